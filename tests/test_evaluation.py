"""Feature extractors, cached reference statistics, per-epoch FID with best-epoch export, and `evaluate`."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import EXPORTS, error_lines, run_cli, tiny_config
from tfgan_cifar.lib import data, savedmodel, features
from tfgan_cifar import train
from tfgan_cifar.lib.errors import UsageError


class CountingExtractor(features.Extractor):
    name, key = "counting", "k"

    def __init__(self):
        self.calls = 0

    def __call__(self, images, progress=False):
        self.calls += 1
        flat = images.reshape(len(images), -1)[:, :8].astype(np.float32)
        return flat, flat[:, :3]


def test_reference_statistics_are_cached_and_reused(tmp_path):
    images = data.make_shapes(200).images
    extractor = CountingExtractor()
    first, path = features.reference(extractor, images, "shapes_train", str(tmp_path))
    second, path2 = features.reference(extractor, images, "shapes_train", str(tmp_path))
    assert extractor.calls == 1 and path == path2 and os.path.exists(path)
    np.testing.assert_array_equal(first["features"], second["features"])
    np.testing.assert_allclose(second["mu"], images.reshape(200, -1)[:, :8].mean(0), rtol=1e-6)
    features.reference(extractor, images[:100], "shapes_train", str(tmp_path))  # another count: new entry
    assert extractor.calls == 2


def test_offline_inception_is_a_one_line_error_naming_the_evaluator(monkeypatch, tmp_path):
    monkeypatch.setattr(features, "_reachable", lambda host: False)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "empty"))
    with pytest.raises(UsageError) as err:
        features.make("inception", "shapes", 32)
    assert "--features=evaluator" in str(err.value) and "\n" not in str(err.value)


def test_inception_path_takes_a_local_savedmodel(tmp_path):
    """A stand-in with Inception's interface (299x299 in, pool_3 and logits out) loads from --inception_path."""
    class FakeInception(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
        def __call__(self, images):
            pooled = tf.reduce_mean(images, axis=[1, 2])
            return {"pool_3": tf.concat([pooled, pooled ** 2], -1), "logits": pooled * 10.0}

    tf.saved_model.save(FakeInception(), str(tmp_path / "inception"))
    extractor = features.make("inception", "shapes", 32, inception_path=str(tmp_path / "inception"))
    images = data.make_shapes(7).images
    feats, logits = extractor(images, batch_size=3)
    assert feats.shape == (7, 6) and logits.shape == (7, 3)
    expected = tf.reduce_mean(tf.image.resize(images / 127.5 - 1.0, (299, 299)), axis=[1, 2]).numpy()
    np.testing.assert_allclose(feats[:, :3], expected, atol=1e-4)


@pytest.mark.xdist_group(EXPORTS)
def test_train_logs_fid_and_exports_the_best_epoch(exports, monkeypatch):
    monkeypatch.chdir(exports[0])  # its dcgan: 3 epochs, FID on 200 samples each
    records = [json.loads(line) for line in open("runs/dcgan/1/metrics.jsonl")]
    fids = [r["fid"] for r in records]
    assert len(fids) == 3 and all(np.isfinite(fids))
    assert os.path.exists("runs/dcgan/1/fid_curve.png")
    _, best = savedmodel.load("models/dcgan/best")
    _, last = savedmodel.load("models/dcgan")
    swds = [r["swd"] for r in records]
    exported = 0  # by hand: an epoch replaces the export when its worse figure, relative to the best so far, is nearer
    for e in range(1, 3):
        bests = min(fids[:e + 1]), min(swds[:e + 1])
        off = lambda i: max(fids[i] / bests[0], swds[i] / bests[1])
        exported = e if off(e) < off(exported) else exported
    assert best["epoch"] == last["epoch"] == 1 + exported and best["best_by"] == "fid+swd"  # the main export too

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator("runs/dcgan/1/tensorboard/train", size_guidance={"tensors": 0})  # Keras' epoch scalars
    acc.Reload()
    assert {"epoch_fid", "epoch_inception_score", "epoch_kid", "epoch_swd"} <= set(acc.Tags()["tensors"])


def test_without_an_evaluator_the_sliced_wasserstein_distance_watches_and_picks_the_best(in_tmp, capsys):
    config = tiny_config("dcgan", epochs=3, fid_samples=200, run_dir="runs/swd", export_dir="models")
    train.train(config, verbose=0)
    assert "FID per epoch is off" in capsys.readouterr().out
    records = [json.loads(line) for line in open("runs/swd/metrics.jsonl")]
    swds = [r["swd"] for r in records]
    assert len(swds) == 3 and all(np.isfinite(swds)) and not any("fid" in r for r in records)
    assert all(r["swd"] == pytest.approx((r["swd_32"] + r["swd_16"]) / 2) for r in records)
    assert all(0 < r["quality_seconds"] for r in records)  # the monitor's cost, next to epoch_seconds
    assert os.path.exists("runs/swd/swd_curve.png")
    _, best = savedmodel.load("models/dcgan/best")
    assert best["epoch"] == 1 + int(np.argmin(swds)) and best["best_by"] == "swd"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator("runs/swd/tensorboard/train", size_guidance={"tensors": 0})
    acc.Reload()
    assert {"epoch_swd", "epoch_swd_32", "epoch_swd_16"} <= set(acc.Tags()["tensors"])


@pytest.mark.xdist_group(EXPORTS)
def test_a_conditional_run_logs_its_intra_class_diversity_each_epoch(exports, monkeypatch):
    root, _ = exports
    monkeypatch.chdir(root)  # its acgan: one epoch of 16 steps on 512 images
    [record] = [json.loads(line) for line in open("runs/acgan/1/metrics.jsonl")]
    # Recomputed from the export (epoch 1): the monitor's 200 samples (z from seed 0, classes in turn), their
    # evaluator features, and the class-recall ratio against the reference part of the train split.
    from tfgan_cifar.lib import latent, metrics
    loaded, meta = savedmodel.load("models/acgan")
    labels = np.arange(200) % 10
    fake = savedmodel.generate(loaded, dict(z=latent.latent_vectors(200, meta["nz"], 0), label=labels))
    extractor = features.make("evaluator", "shapes", 32)
    reference, _ = features.real_reference(extractor, "shapes", data.load("shapes", "train", examples=512), 32,
                                           cache_dir=str(root / "stats"))
    mean, worst, _ = metrics.intra_class_diversity(reference["features"], reference["labels"], extractor(fake)[0],
                                                   labels)
    assert (record["intra_class_diversity"], record["intra_class_diversity_min"]) == pytest.approx((mean, worst))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator("runs/acgan/1/tensorboard/train", size_guidance={"tensors": 0})
    acc.Reload()
    assert {"epoch_intra_class_diversity", "epoch_intra_class_diversity_min"} <= set(acc.Tags()["tensors"])


@pytest.mark.xdist_group(EXPORTS)
def test_evaluate_cli_reports_metrics_and_the_real_floor(exports):
    root, res = exports  # make eval of its acgan (one epoch), n = 200
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.load(open(root / "models/acgan/eval_evaluator_n200.json"))
    for part in ("generated", "real_test_floor"):
        assert {"fid", "inception_score", "kid", "kid_std", "precision", "recall", "class_accuracy", "swd", "c2st",
                "c2st_p"} <= set(result[part])
    assert result["samples"] == 200 and result["features"] == "evaluator"
    ev = json.load(open(root / "models/evaluator/shapes_32/evaluator.json"))
    assert result["real_test_floor"]["class_accuracy"] >= ev["test_accuracy"] - 0.05
    floor, generated = result["real_test_floor"], result["generated"]
    assert floor["fid"] < generated["fid"] and floor["kid"] < generated["kid"]  # real held-out images score best
    assert floor["precision"] > generated["precision"] and floor["recall"] > generated["recall"]
    assert floor["swd"] < generated["swd"] and abs(floor["c2st"] - 0.5) < generated["c2st"] - 0.5
    # Held-out real images cover their classes as well as the reference does; a 1-epoch model much less.
    assert 0.85 < floor["intra_class_diversity"] < 1.15 and generated["intra_class_diversity"] < floor["intra_class_diversity"]
    reference = data.reference_part(data.load("shapes", "train", str(root / "data")))
    assert result["reference"].startswith(f"shapes train split, its reference part ({len(reference)} images")
    assert "FID" in res.stdout and "real test floor" in res.stdout and "intra-class diversity" in res.stdout
    assert "SWD" in res.stdout and "two-sample" in res.stdout and "evaluator (small," in res.stdout


def test_evaluate_bad_input(in_tmp):
    missing = run_cli("evaluate", "--features=inception", "--inception_path=/does/not/exist", "--model_dir=/nope",
                      cwd=in_tmp)
    few = run_cli("evaluate", "--n=5", cwd=in_tmp)
    lines = error_lines(missing.stderr)
    assert missing.returncode == 2 and len(lines) == 1 and "no SavedModel" in lines[0]
    assert few.returncode == 2 and "--n must be >= 100" in error_lines(few.stderr)[0]


def test_reference_and_evaluator_parts_split_the_train_split_by_pixels():
    train_set = data.load("shapes", "train", examples=2000)
    reference, seen = data.reference_part(train_set), data.evaluator_part(train_set)
    pixels = lambda image_set: {image.tobytes() for image in image_set.images}
    assert len(reference) + len(seen) == len(train_set) and not pixels(reference) & pixels(seen)
    assert abs(len(reference) / len(train_set) - 1 / data.REFERENCE_SHARE) < 0.03
    # An image's part does not depend on what else was loaded: a one-class load keeps each image's part.
    cats = data.load("shapes", "train", classes=[3], examples=2000)
    assert pixels(data.reference_part(cats)) == {im.tobytes() for im, label in zip(reference.images, reference.labels)
                                                 if label == 3}


def test_the_evaluator_never_saw_the_reference_and_an_older_one_is_refused(evaluator_root, tmp_path):
    import shutil
    from tfgan_cifar.lib import evaluator
    path = evaluator.evaluator_dir("shapes", 32, str(evaluator_root / "models" / "evaluator"))
    meta = json.load(open(os.path.join(path, "evaluator.json")))
    assert meta["reference_held_out"] and meta["trained_on"].endswith(
        f"({len(data.evaluator_part(data.load('shapes', 'train', examples=3000)))} images)")
    old = tmp_path / "models" / "evaluator" / "shapes_32"
    shutil.copytree(path, old)
    json.dump({k: v for k, v in meta.items() if k not in ("reference_held_out", "trained_on")},
              open(old / "evaluator.json", "w"))
    with pytest.raises(UsageError, match="trained on the images the metrics use as reference.*make evaluator"):
        features.make("evaluator", "shapes", 32, evaluator_root=str(tmp_path / "models" / "evaluator"))


def test_an_evaluator_is_named_by_its_weights_so_a_copy_or_retraining_to_the_same_weights_is_the_same_judge(
        evaluator_root, tmp_path):
    import hashlib
    import shutil
    from tfgan_cifar.lib import evaluator
    path = evaluator.evaluator_dir("shapes", 32, str(evaluator_root / "models" / "evaluator"))
    weights = evaluator.load(path).model.get_weights()  # read back from the saved file
    digest = hashlib.sha256(b"".join(np.asarray(w, np.float32).tobytes() for w in weights)).hexdigest()
    assert json.load(open(os.path.join(path, "evaluator.json")))["weights_sha256"] == digest
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    os.utime(copy / "model.keras", (1, 1))  # another file time, another folder: the same weights
    assert features.evaluator_key(str(copy)) == features.evaluator_key(path) == digest[:8]
    # An evaluator saved before it recorded its digest: named by folder and file time, so a retraining is new.
    meta = json.load(open(copy / "evaluator.json"))
    json.dump({k: v for k, v in meta.items() if k != "weights_sha256"}, open(copy / "evaluator.json", "w"))
    before = features.evaluator_key(str(copy))
    os.utime(copy / "model.keras", (2, 2))
    assert before != features.evaluator_key(str(copy)) and before != digest[:8]

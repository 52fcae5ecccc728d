"""End to end on `shapes`: a one-epoch run writes every run-dir file, export -> load -> sample reproduces the
in-memory generator, and --resume continues from the saved epoch/step with optimizer state restored."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import error_lines, run_cli, tiny_config
from tfgan_cifar.lib import savedmodel, images
from tfgan_cifar import gans, train


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    config = tiny_config("dcgan", run_dir=str(root / "run"), export_dir=str(root / "models"))
    gan, run_dir, path = train.train(config, verbose=0)
    return config, gan, run_dir, path


def test_run_dir_has_every_artifact(one_epoch):
    config, gan, run_dir, path = one_epoch
    for name in ("config.json", "metrics.jsonl", "steps.jsonl", "loss_curve.png", "samples/epoch_0001.png",
                 "checkpoints/checkpoint"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert json.load(open(os.path.join(run_dir, "config.json")))["model"] == "dcgan"
    [record] = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    assert record["epoch"] == 1 and record["step"] == 256 // 16 and record["img_per_s"] > 0
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(record)
    steps = [json.loads(line) for line in open(os.path.join(run_dir, "steps.jsonl"))]
    assert [s["step"] for s in steps] == list(range(2, 17, 2))  # every --log_every=2 steps

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    tags = set()
    for sub in ("steps", "train"):
        acc = EventAccumulator(os.path.join(run_dir, "tensorboard", sub), size_guidance={"tensors": 0})
        acc.Reload()
        tags |= set(acc.Tags()["tensors"])
    assert {"d_loss", "g_loss", "d_real", "d_fake", "img/s", "epoch_seconds", "fake", "real"} <= tags


def test_export_load_sample_matches_in_memory_generator(one_epoch):
    config, gan, run_dir, path = one_epoch
    loaded, meta = savedmodel.load(path)
    assert (meta["nz"], meta["image_size"], meta["conditional"], meta["epoch"]) == (100, 32, False, 1)
    assert meta["class_names"][0] == "red disc"
    z = np.random.default_rng(0).standard_normal((10, 100)).astype(np.float32)
    exported = savedmodel.generate(loaded, z, batch_size=4)  # several batches
    in_memory = images.to_uint8(gan.generate(z).numpy())
    assert exported.dtype == np.uint8 and exported.shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(exported, in_memory)


def test_a_last_epoch_that_is_the_best_is_exported_as_a_copy_of_best(one_epoch):
    """One epoch: the monitor saved it to best/; the run's export is that SavedModel copied, not traced and
    saved a second time (a second save would have no best_by and other function names in saved_model.pb)."""
    path = one_epoch[3]
    main, best = (json.load(open(os.path.join(p, "tfgan_cifar.json"))) for p in (path, os.path.join(path, "best")))
    assert main == best and main["best_by"] == "swd" and (main["epoch"], main["step"]) == (1, 256 // 16)
    for name in ("saved_model.pb", "variables/variables.index"):
        with open(os.path.join(path, name), "rb") as a, open(os.path.join(path, "best", name), "rb") as b:
            assert a.read() == b.read(), name


def test_saved_model_needs_only_tensorflow(one_epoch):
    path = one_epoch[3]
    code = ("import sys, tensorflow as tf; g = tf.saved_model.load(sys.argv[1]);"
            "x = g.signatures['serving_default'](z=tf.zeros([3, 100]))['images'];"
            "assert x.dtype == tf.uint8 and x.shape == (3, 32, 32, 3), x.shape;"
            "assert not [m for m in sys.modules if m.startswith('tfgan_cifar')]; print('ok')")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_sample_cli_writes_png_and_npz(one_epoch, tmp_path):
    path = one_epoch[3]
    npz_run, png_run, bad = (run_cli("sample", f"--model_dir={path}", *args, cwd=tmp_path) for args in (
        ["--n=6", f"--out={tmp_path}/s.npz", "--seed=3"], ["--n=6", f"--out={tmp_path}/s.png"],
        ["--per_sketch=2", f"--out={tmp_path}/x.png"]))
    assert npz_run.returncode == png_run.returncode == 0, (npz_run.stderr, png_run.stderr)
    npz = np.load(tmp_path / "s.npz")
    assert npz["images"].shape == (6, 32, 32, 3)
    loaded, _ = savedmodel.load(path)
    np.testing.assert_array_equal(npz["images"], savedmodel.generate(loaded, npz["z"]))
    from PIL import Image
    z = np.random.default_rng(0).standard_normal((6, 100)).astype(np.float32)  # --seed=0, as sample draws them
    expected = images.grid(savedmodel.generate(loaded, z))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "s.png")), expected.repeat(2, 0).repeat(2, 1))
    lines = error_lines(bad.stderr)
    assert bad.returncode == 2 and len(lines) == 1 and "dcgan samples from latent vectors" in lines[0], lines


def test_resume_continues_with_optimizer_state(one_epoch, tmp_path):
    import shutil
    config, gan, run_dir, _ = one_epoch
    resumed_dir = str(tmp_path / "run")
    shutil.copytree(run_dir, resumed_dir)
    # The restored model holds exactly the saved weights and Adam slots.
    saved = tiny_config("dcgan", run_dir=resumed_dir)
    gan2, checkpoint, step, epoch = train.build(saved, 10)
    train.restore(checkpoint, resumed_dir)
    assert (int(epoch), int(step)) == (1, 16)
    assert int(gan2.d_optimizer.iterations) == 16 and int(gan2.g_optimizer.iterations) == 16
    for a, b in zip(gan.d_optimizer.variables, gan2.d_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(gan.generator.weights, gan2.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # Resuming through the CLI runs only the missing epoch, and logs continue without duplicates.
    res = run_cli("train", "--resume", f"--run_dir={resumed_dir}", "--epochs=2", f"--export_dir={tmp_path}/m")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resumed" in res.stdout and "at epoch 1, step 16" in res.stdout
    epochs = [json.loads(line)["epoch"] for line in open(os.path.join(resumed_dir, "metrics.jsonl"))]
    assert epochs == [1, 2]
    _, meta = savedmodel.load(f"{tmp_path}/m/dcgan")
    assert (meta["epoch"], meta["step"]) == (2, 32)
    # The run is a 2-epoch run now: its saved config (what records and a later --resume read) says so.
    from tfgan_cifar.tools import results
    resumed_config = gans.saved_config(os.path.join(resumed_dir, "config.json"))
    assert resumed_config.epochs == 2 and "--epochs=2" in results.args_of(resumed_config)


def test_export_cli_from_a_checkpoint(one_epoch, tmp_path):
    config, gan, run_dir, _ = one_epoch
    res = run_cli("export", f"--run_dir={run_dir}", f"--export_dir={tmp_path}/m")
    assert res.returncode == 0, res.stderr[-2000:]
    loaded, meta = savedmodel.load(f"{tmp_path}/m/dcgan")
    assert (meta["epoch"], meta["step"]) == (1, 16)
    z = np.random.default_rng(1).standard_normal((4, 100)).astype(np.float32)
    np.testing.assert_array_equal(savedmodel.generate(loaded, z), images.to_uint8(gan.generate(z).numpy()))


def test_a_run_saved_before_a_hyper_parameter_existed_resumes_exports_and_records_as_it_trained(tmp_path):
    """acgan runs saved before --conditioning hold null for it; they were trained with the multiplied label
    embedding (today's default is cbn), so export restores their checkpoint into that network, --resume
    continues it, and the record's args list the flag as it differs from today's default."""
    from tfgan_cifar import export
    from tfgan_cifar.tools import results
    run_dir = str(tmp_path / "run")
    gan, _, _ = train.train(tiny_config("acgan", conditioning="multiply", fid_every=0, run_dir=run_dir,
                                        export_dir=str(tmp_path / "m")), verbose=0)
    path = os.path.join(run_dir, "config.json")
    saved = json.load(open(path))
    assert saved["conditioning"] == "multiply"
    json.dump(dict(saved, conditioning=None), open(path, "w"))
    loaded, meta = savedmodel.load(export.export_from_checkpoint(run_dir, str(tmp_path / "again")))
    z, labels = np.random.default_rng(1).standard_normal((4, 100)).astype(np.float32), np.arange(4, dtype=np.int32)
    np.testing.assert_array_equal(savedmodel.generate(loaded, dict(z=z, label=labels)),
                                  images.to_uint8(gan.generate(z, labels).numpy()))
    assert "--conditioning=multiply" in results.args_of(gans.saved_config(path))
    res = run_cli("train", "--resume", f"--run_dir={run_dir}", "--epochs=2", "--fid_every=0",
                  f"--export_dir={tmp_path}/m2")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "at epoch 1, step 16" in res.stdout


def test_interrupted_export_leaves_the_previous_model_loadable(one_epoch, tmp_path, monkeypatch):
    import tensorflow as tf
    config, gan, run_dir, path = one_epoch
    target = str(tmp_path / "dcgan")
    savedmodel.save_generator(gan, target, savedmodel.metadata(gan, ["c"] * 10, 1, 16))
    savedmodel.save_generator(gan, os.path.join(target, savedmodel.BEST), savedmodel.metadata(gan, ["c"] * 10, 1, 16))
    real_save = tf.saved_model.save

    def crash_midway(obj, export_dir, signatures=None):
        real_save(obj, export_dir, signatures=signatures)  # a complete write beside the target...
        raise OSError(28, "No space left on device")  # ...then the disk fills before the swap

    monkeypatch.setattr(tf.saved_model, "save", crash_midway)
    with pytest.raises(OSError):
        savedmodel.save_generator(gan, target, savedmodel.metadata(gan, ["c"] * 10, 99, 999))
    monkeypatch.undo()
    _, meta = savedmodel.load(target)
    assert meta["epoch"] == 1  # the old model, intact
    assert savedmodel.load(os.path.join(target, savedmodel.BEST))[1]["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == [".dcgan.lock", "dcgan"]  # the lock file, and no temp directories


def test_failed_swap_restores_previous_model_and_its_best(one_epoch, tmp_path, monkeypatch):
    config, gan, run_dir, path = one_epoch
    target = str(tmp_path / "dcgan")
    savedmodel.save_generator(gan, target, savedmodel.metadata(gan, ["c"] * 10, 1, 16))
    savedmodel.save_generator(gan, os.path.join(target, savedmodel.BEST), savedmodel.metadata(gan, ["c"] * 10, 1, 16))
    real_rename = os.rename

    def failing_rename(src, dst):
        if ".tmp-" in str(src) and str(dst) == target:
            raise OSError(5, "Input/output error")
        return real_rename(src, dst)

    monkeypatch.setattr(savedmodel.os, "rename", failing_rename)
    with pytest.raises(OSError):
        savedmodel.save_generator(gan, target, savedmodel.metadata(gan, ["c"] * 10, 99, 999))
    monkeypatch.undo()
    assert savedmodel.load(target)[1]["epoch"] == 1
    assert savedmodel.load(os.path.join(target, savedmodel.BEST))[1]["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == [".dcgan.lock", "dcgan"]


def test_nan_guard_stops_names_the_step_and_exports_the_last_good_checkpoint(tmp_path, monkeypatch):
    import tensorflow as tf

    from tfgan_cifar.lib import losses
    from tfgan_cifar.lib.errors import TrainingDiverged
    config = tiny_config("dcgan", fid_every=0, run_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "m"),
                         nan_patience=3)
    train.train(config, verbose=0)  # one good epoch: checkpoint 1 at step 16
    d_loss, g_loss = losses.ADVERSARIAL["bce"]
    monkeypatch.setitem(losses.ADVERSARIAL, "bce", (lambda r, f: d_loss(r, f) * float("nan"), g_loss))
    resumed = tiny_config("dcgan", fid_every=0, run_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "m"),
                          nan_patience=3, epochs=3, resume=True)
    with pytest.raises(TrainingDiverged) as err:
        train.train(resumed, verbose=0)
    message = str(err.value)
    assert "stopped at step 19" in message and "ckpt-" in message and "\n" not in message  # 16 + patience 3
    for prefix in tf.train.get_checkpoint_state(str(tmp_path / "run" / "checkpoints")).all_model_checkpoint_paths:
        for name, _ in tf.train.list_variables(prefix):
            value = tf.train.load_variable(prefix, name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                assert np.all(np.isfinite(value)), (prefix, name)
    loaded, meta = savedmodel.load(str(tmp_path / "m" / "dcgan"))
    assert meta["step"] <= 19
    assert np.all(np.isfinite(savedmodel.generate(loaded, np.zeros((2, 100), np.float32)).astype(float)))


def test_diverged_training_exits_non_zero_with_one_line(monkeypatch, capsys):
    from tfgan_cifar.lib import errors

    def main(argv):
        raise errors.TrainingDiverged("training stopped at step 7")

    monkeypatch.setattr("sys.argv", ["prog"])
    with pytest.raises(SystemExit) as code:
        errors.run(main)
    assert code.value.code == 1
    assert capsys.readouterr().err.strip() == "error: training stopped at step 7"


def test_lr_decay_linear_falls_to_zero_at_the_end_of_the_run(tmp_path):
    import tensorflow as tf

    from tfgan_cifar.lib import callbacks
    config = tiny_config("dcgan", fid_every=0, run_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "m"),
                         lr_decay="linear", g_lr=2e-4, d_lr=4e-4)
    gan, _, _ = train.train(config, verbose=0)  # 16 steps; the last one ran at 1/16 of the base rates
    np.testing.assert_allclose([float(gan.g_optimizer.learning_rate), float(gan.d_optimizer.learning_rate)],
                               [2e-4 / 16, 4e-4 / 16], rtol=1e-6)

    # The compiled step reads the rate the callback sets: at the end of the schedule no weight moves,
    # half way through the rates are halved and the weights move.
    step = tf.Variable(16, dtype=tf.int64)
    decay = callbacks.LinearDecay([(gan.g_optimizer, 2e-4), (gan.d_optimizer, 4e-4)], step, total_steps=16)
    batch = tf.data.Dataset.from_tensors((tf.random.uniform([16, 32, 32, 3], -1, 1), tf.zeros([16], tf.int32)))
    weights = lambda: [v.numpy().copy() for v in gan.generator.trainable_variables + gan.discriminator.trainable_variables]
    before = weights()
    gan.fit(batch, epochs=1, verbose=0, callbacks=[decay])
    assert all(np.array_equal(a, b) for a, b in zip(before, weights()))
    step.assign(8)
    gan.fit(batch, epochs=1, verbose=0, callbacks=[decay])
    np.testing.assert_allclose(float(gan.d_optimizer.learning_rate), 2e-4, rtol=1e-6)
    assert not all(np.array_equal(a, b) for a, b in zip(before, weights()))

    class ThreeQuartersSpent:  # a time budget used up faster than the steps
        def fraction(self):
            return 0.75
    assert callbacks.LinearDecay([], step, 16, ThreeQuartersSpent()).progress() == 0.75
    assert callbacks.LinearDecay([], tf.Variable(20, dtype=tf.int64), 16).progress() == 1.0


def test_lr_decay_start_holds_the_base_rates_then_decays_linearly_to_zero():
    import tensorflow as tf

    from tfgan_cifar.lib import callbacks

    class Optimizer:
        learning_rate = None
    opt, step = Optimizer(), tf.Variable(0, dtype=tf.int64)
    decay = callbacks.LinearDecay([(opt, 1e-3)], step, total_steps=100, start=0.6)
    rates = []
    for k in range(0, 101, 10):
        step.assign(k)
        decay.on_train_batch_begin(0)
        rates.append(opt.learning_rate)
    expected = np.interp(np.arange(0, 101, 10), [0, 60, 100], [1e-3, 1e-3, 0.0])  # hold 60 %, then a ramp to 0
    np.testing.assert_allclose(rates, expected, rtol=1e-9, atol=1e-12)


def test_per_step_curves_are_each_steps_value_not_the_epochs_running_mean(tmp_path):
    """Known per-step values go in as a train_step returns them; TensorBoard and steps.jsonl hold those values
    and their moving average, the progress bar keeps the running mean."""
    import glob

    from tfgan_cifar.lib import callbacks
    step = tf.Variable(0, dtype=tf.int64)
    log = callbacks.TrainingLog(str(tmp_path), None, step, dict(rows=1), np.zeros((1, 32, 32, 3), np.float32), 4, 1, 10)
    values = [3.0, 1.0, 4.0, 1.0, 5.0]
    log.on_epoch_begin(0)
    for i, value in enumerate(values):
        logs = {"d_loss": float(np.mean(values[:i + 1])), "d_loss" + callbacks.STEP_SUFFIX: value}
        log.on_train_batch_end(i, logs)
        assert set(logs) == {"d_loss", "img/s"} and logs["d_loss"] == np.mean(values[:i + 1])
    log.writer.flush()
    ema = [values[0]]
    for value in values[1:]:
        ema.append(callbacks.EMA_DECAY * ema[-1] + (1 - callbacks.EMA_DECAY) * value)
    written = {}
    for path in glob.glob(str(tmp_path / "tensorboard" / "steps" / "events*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                written.setdefault(v.tag, {})[event.step] = float(tf.make_ndarray(v.tensor))
    assert written["d_loss"] == dict(zip(range(1, 6), values))
    np.testing.assert_allclose([written["d_loss_ema"][s] for s in range(1, 6)], ema, rtol=1e-6)
    steps = [json.loads(line) for line in open(tmp_path / "steps.jsonl")]
    assert [r["d_loss"] for r in steps] == values and [r["step"] for r in steps] == [1, 2, 3, 4, 5]

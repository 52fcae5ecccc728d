"""sketch2img: the edge extractor, unpaired partners, the U-Net's shapes, training from the CLI with
the sketch | generated | real grid, sampling from a sketch file, evaluation, and bad sketch input."""
import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import error_lines, run_cli, tiny_config
from tfgan_cifar.lib import data, savedmodel, networks, sketch
from tfgan_cifar.lib.layers import LatentPlanes
from tfgan_cifar import gans

pytestmark = pytest.mark.xdist_group("sketch2img")  # one test worker for all: its module fixture is built once


def test_edges_of_a_filled_square_are_its_outline():
    image = np.full((1, 32, 32, 3), -1.0, np.float32)
    image[:, 8:24, 8:24, :] = 1.0
    strokes = sketch.edges(image).numpy()[0, :, :, 0]
    assert strokes.shape == (32, 32) and set(np.unique(strokes)) <= {0.0, 1.0}
    assert strokes[11:21, 11:21].sum() == 0  # interior empty
    assert strokes[:5].sum() == strokes[-5:].sum() == strokes[:, :5].sum() == strokes[:, -5:].sum() == 0  # far bg
    for side in (strokes[7:9, 10:22], strokes[23:25, 10:22], strokes[10:22, 7:9], strokes[10:22, 23:25]):
        assert side.max(axis=0 if side.shape[0] == 2 else 1).all()  # every side of the outline is drawn
    blurred = sketch.edges(image, blur=True).numpy()[0, :, :, 0]
    assert 0 < blurred[6, 16] < 1 and blurred[12:20, 12:20].sum() == 0  # soft strokes, interior still empty


def test_unpaired_partner_is_always_another_image_of_the_same_class():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 0] * 4, np.int32)
    n = len(labels)
    images = np.zeros((n, 4, 4, 3), np.uint8)
    ids = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 1), np.uint8)  # sketch = its index
    d = data.ImageSet(images, labels, tuple("abcd"), extra=ids)
    seen = set()
    for _, batch_labels, sketches in data.make_pipeline(d, 8, image_size=4, repeat=True, extra_from_same_class=True,
                                                         seed=3).take(30):
        partner = np.round(sketches.numpy()[:, 0, 0, 0] * 255).astype(int)
        np.testing.assert_array_equal(labels[partner], batch_labels.numpy())  # same class
        seen |= set(partner.tolist())
    _, batch_labels, sketches = next(iter(data.make_pipeline(d, n, image_size=4, shuffle=False, extra_from_same_class=True)))
    partner = np.round(sketches.numpy()[:, 0, 0, 0] * 255).astype(int)
    assert np.all(partner != np.arange(n))  # never the image itself
    assert len(seen) > n * 0.8  # partners vary over batches
    _, _, own = next(iter(data.make_pipeline(d, n, image_size=4, shuffle=False)))
    np.testing.assert_array_equal(np.round(own.numpy()[:, 0, 0, 0] * 255), np.arange(n))  # paired: its own


def test_sketch_agreement_is_the_f1_of_strokes_within_a_pixel_as_scipy_computes_it():
    from scipy import ndimage
    from tfgan_cifar.lib.images import to_float
    rng = np.random.default_rng(0)
    images = np.full((6, 24, 24, 3), 128, np.uint8)  # 4x4-px blocks of random colours in a plain frame, so that
    images[:, 4:20, 4:20] = np.kron(rng.integers(0, 256, (6, 4, 4, 3)), np.ones((1, 4, 4, 1)))  # no stroke is at a border
    own = sketch.edges(to_float(images)).numpy()

    def reference(sketches, radius):
        drawn, given = own >= 0.5, sketches >= 0.5
        square = np.ones((1, 2 * radius + 1, 2 * radius + 1, 1), bool)
        near = lambda m: ndimage.binary_dilation(m, structure=square)
        p, r = (drawn & near(given)).sum() / drawn.sum(), (given & near(drawn)).sum() / given.sum()
        return 2 * p * r / (p + r)

    assert sketch.agreement(images, own) == 1.0
    shifted, others = np.roll(own, 1, axis=2), own[np.roll(np.arange(6), 1)]
    for sketches in (shifted, others):
        for radius in (0, 1, 2):
            assert sketch.agreement(images, sketches, tolerance=radius) == pytest.approx(reference(sketches, radius))
    assert sketch.agreement(images, shifted, tolerance=1) == 1.0 > sketch.agreement(images, shifted, tolerance=0)
    assert sketch.agreement(images, np.zeros_like(own)) == 0.0  # an empty sketch matches nothing


def test_same_class_partners_are_another_image_of_the_class():
    from tfgan_cifar.gans.sketch2img import same_class_partners
    labels = np.array([2, 0, 2, 1, 0, 2, 3])
    partners = same_class_partners(labels)
    np.testing.assert_array_equal(labels[partners], labels)
    np.testing.assert_array_equal(partners, [2, 4, 5, 3, 1, 0, 6])  # class 1 and 3 have one image: itself


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_unet_output_matches_the_sketch(size, upsample):
    unet = networks.unet_generator(size, width=8, num_classes=10, upsample=upsample, noise="z")
    labels = np.array([1, 2], np.int32)
    blank = np.zeros((2, size, size, 1), np.float32)
    stroke = blank.copy()
    stroke[:, size // 4:size // 2, size // 2] = 1.0
    out = unet([blank, labels]).numpy()
    assert out.shape == (2, size, size, 3)
    assert np.abs(unet([stroke, labels]).numpy() - out).max() > 1e-4  # the image follows the sketch
    # Skip connections: each decoder stage joins the encoder's features of its size, from the 4x4 bottleneck up
    # (the first Concatenate stacks the sketch and label planes).
    joined = [layer.output.shape[1] for layer in unet.layers if isinstance(layer, keras.layers.Concatenate)][1:]
    stages = int(np.log2(size // 4))
    assert joined == [size >> k for k in range(stages - 1, 0, -1)]


def test_latent_noise_gives_one_sketch_many_images_reproducibly_from_an_export(tmp_path):
    gan = gans.build(tiny_config("sketch2img", noise="latent"))
    sketches = np.zeros((4, 32, 32, 1), np.float32)
    sketches[:, 8:24, 16] = 1.0  # one sketch and label, four times
    labels = np.full(4, 3, np.int32)
    out = gan.generate(sketches, labels).numpy()
    spread = np.abs(out[1:] - out[:1]).max(axis=(1, 2, 3))
    assert spread.min() > 1e-3  # in inference, too, every image draws its own vector
    # The vector is tiled over the image: the latent planes of one row are one value each.
    latent = [l.output for l in gan.generator.layers if isinstance(l, LatentPlanes)]
    planes = keras.Model(gan.generator.inputs, latent)([sketches, labels]).numpy()
    assert planes.shape == (4, 32, 32, networks.LATENT_PLANES)
    np.testing.assert_array_equal(planes, np.broadcast_to(planes[:, :1, :1], planes.shape))
    meta = savedmodel.metadata(gan, data.SHAPES_CLASSES, 1, 1)
    savedmodel.save_generator(gan, str(tmp_path / "m"), meta)
    sample = lambda loaded: savedmodel.generate(loaded, dict(sketch=sketches, label=labels))
    loaded, fresh = savedmodel.load(str(tmp_path / "m"))[0], savedmodel.load(str(tmp_path / "m"))[0]
    calls = [sample(loaded), sample(loaded)]
    np.testing.assert_array_equal(calls[0], sample(fresh))  # each fresh load samples the same images
    assert np.abs(calls[1].astype(int) - calls[0]).max() > 0  # and the next call draws new vectors


def test_sample_cli_draws_several_images_per_sketch_in_one_row_each(tmp_path):
    gan = gans.build(tiny_config("sketch2img", noise="latent"))
    savedmodel.save_generator(gan, str(tmp_path / "m"), savedmodel.metadata(gan, data.SHAPES_CLASSES, 1, 1))
    drawn = np.full((2, 32, 32), 255, np.uint8)
    drawn[0, 8:24, 16] = 0  # a vertical stroke
    drawn[1, 16, 8:24] = 0  # a horizontal one
    os.makedirs(tmp_path / "sketches")
    for i in range(2):
        Image.fromarray(drawn[i]).save(tmp_path / "sketches" / f"s{i}.png")
    common = (f"--model_dir={tmp_path}/m", f"--sketch={tmp_path}/sketches", "--labels=1,4", "--per_sketch=3")
    # each command a fresh load, so both draw the same vectors
    for out in ("s.npz", "s.png"):
        res = run_cli("sample", *common, f"--out={tmp_path}/{out}", cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-2000:]
    got = np.load(tmp_path / "s.npz")
    assert got["label"].tolist() == [1, 1, 1, 4, 4, 4]
    np.testing.assert_array_equal(got["sketch"][:, :, :, 0], np.repeat(drawn == 0, 3, axis=0).astype(np.float32))
    for group in got["images"].reshape(2, 3, 32, 32, 3).astype(int):
        assert min(np.abs(group[i] - group[j]).max() for i, j in ((0, 1), (0, 2), (1, 2))) > 0  # three draws
    picture = np.asarray(Image.open(tmp_path / "s.png"))[::2, ::2]  # back at 1x
    assert picture.shape == (2 * 34 + 2, 4 * 34 + 2, 3)  # 2 rows of sketch | 3 images
    tile = lambda row, col: picture[2 + 34 * row:34 * row + 34, 2 + 34 * col:34 * col + 34]
    for row in range(2):
        np.testing.assert_array_equal(tile(row, 0)[:, :, 0], drawn[row])
        for col in range(1, 4):
            np.testing.assert_array_equal(tile(row, col), got["images"][3 * row + col - 1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("s2i")
    res = run_cli("train", "--model=sketch2img", "--dataset=shapes", "--examples=256", "--batch_size=16",
                  "--epochs=1", "--width=8", "--fid_every=0", "--l1_weight=10", f"--run_dir={root}/run",
                  f"--export_dir={root}/models")
    assert res.returncode == 0, res.stderr[-3000:]
    return root


def test_training_writes_sketch_generated_real_grids_and_a_sketch_savedmodel(trained):
    grid = np.asarray(Image.open(trained / "run" / "samples" / "epoch_0001.png"))
    tile, pad, scale = 32 + 2, 2, 2  # 8 rows x 3 columns (sketch | generated | real) of 32 px, 2 px apart, shown 2x
    assert grid.shape == ((8 * tile + pad) * scale, (3 * tile + pad) * scale, 3)
    records = [json.loads(line) for line in open(trained / "run" / "metrics.jsonl")]
    assert np.isfinite(records[0]["l1"]) and np.isfinite(records[0]["gp"])
    loaded, meta = savedmodel.load(str(trained / "models" / "sketch2img"))
    assert meta["inputs"] == ["sketch", "label"] and meta["sketches"] == "paired"
    serve = loaded.signatures["serving_default"]
    out = serve(sketch=np.zeros((3, 32, 32, 1), np.float32), label=np.array([0, 1, 2], np.int32))["images"]
    assert out.shape == (3, 32, 32, 3) and out.dtype.name == "uint8"


def test_sample_cli_from_a_sketch_file_and_a_folder(trained, tmp_path):
    drawn = np.full((32, 32), 255, np.uint8)
    drawn[8:24, 8] = drawn[8:24, 23] = drawn[8, 8:24] = drawn[23, 8:24] = 0  # dark square outline on paper
    os.makedirs(tmp_path / "sketches")
    for i in range(3):
        Image.fromarray(drawn).save(tmp_path / "sketches" / f"s{i}.png")
    model_dir = str(trained / "models" / "sketch2img")
    for res in (  # a file, then a folder of sketches
            run_cli("sample", f"--model_dir={model_dir}", f"--sketch={tmp_path}/sketches/s0.png", "--labels=1",
                    f"--out={tmp_path}/one.npz", cwd=tmp_path),
            run_cli("sample", f"--model_dir={model_dir}", f"--sketch={tmp_path}/sketches", "--labels=2",
                    f"--out={tmp_path}/folder.png", cwd=tmp_path)):
        assert res.returncode == 0, res.stderr[-2000:]
    one = np.load(tmp_path / "one.npz")
    assert one["images"].shape == (1, 32, 32, 3) and one["label"].tolist() == [1]
    assert one["sketch"][0, 8, 16, 0] == 1.0 and one["sketch"][0, 16, 16, 0] == 0.0  # inverted to ink
    picture = np.asarray(Image.open(tmp_path / "folder.png"))
    assert picture.shape == ((3 * 34 + 2) * 2, (2 * 34 + 2) * 2, 3)  # 3 rows of sketch | generated, 2x
    first_sketch = picture[4:4 + 64:2, 4:4 + 64:2, 0]  # the top-left tile, back at 1x: the sketch as drawn
    np.testing.assert_array_equal(first_sketch, drawn)


def test_bad_sketch_size_and_label_are_one_line_errors(trained, tmp_path):
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "ok.png")
    model_dir = str(trained / "models" / "sketch2img")
    cases = (([f"--sketch={tmp_path}/small.png"], "16x16; this model takes 32x32"),
             ([f"--sketch={tmp_path}/ok.png", "--labels=10"], "--labels: class id 10 is not in 0..9"),
             ([], "give --sketch"),
             ([f"--sketch={tmp_path}/ok.png", "--per_sketch=2"], "draws one image per sketch"),
             ([f"--sketch={tmp_path}/ok.png", "--per_sketch=0"], "--per_sketch must be >= 1"))
    results = [run_cli("sample", f"--model_dir={model_dir}", f"--out={tmp_path}/x.png", *args, cwd=tmp_path)
               for args, _ in cases]
    for (_, needle), res in zip(cases, results):
        lines = error_lines(res.stderr)
        assert res.returncode == 2 and len(lines) == 1 and needle in lines[0], lines
    assert not os.path.exists(tmp_path / "x.png")


def test_evaluate_scores_test_sketches_with_paired_distances(trained, evaluator_root, monkeypatch):
    from tfgan_cifar import evaluate
    monkeypatch.chdir(evaluator_root)
    result = evaluate.evaluate(str(trained / "models" / "sketch2img"), n=200, data_dir=str(evaluator_root / "data"),
                               progress=False)  # the worker's data folder: reference statistics computed once
    g, floor = result["generated"], result["real_test_floor"]
    assert result["samples"] == 200 and {"fid", "class_accuracy", "l1", "ssim"} <= set(g)
    assert 0 < g["l1"] < 1 and -1 <= g["ssim"] < 1 and floor["class_accuracy"] > g["class_accuracy"]
    # Edge F1 of the very samples scored, to the sketches they were drawn from; chance: real images, others' sketches.
    loaded, meta = savedmodel.load(str(trained / "models" / "sketch2img"))
    held_out = data.random_subset(data.load("shapes", "test", image_size=32), 200, 0)
    inputs, _, _ = gans.VARIANTS["sketch2img"].evaluation_inputs(meta, held_out, 200)
    fake = savedmodel.generate(loaded, inputs, progress=False)
    assert g["sketch_f1"] == pytest.approx(sketch.agreement(fake, inputs["sketch"]))
    from tfgan_cifar.gans.sketch2img import same_class_partners
    partners = same_class_partners(held_out.labels)
    assert floor["sketch_f1_chance"] == pytest.approx(sketch.agreement(held_out.images, inputs["sketch"][partners]))
    assert "edge F1 to its sketch" in evaluate.format_table(result)


def test_seed_preset_and_sketch_flags_are_validated():
    from tfgan_cifar.lib.errors import UsageError
    config = gans.make_config("sketch2img", "seed", epochs=10)
    assert (config.gp_weight, config.n_critic, config.g_lr, config.d_lr) == (100.0, 5, 1e-4, 1e-4)  # the seed's
    assert config.image_size == 64 and config.sketches == "unpaired" and config.epochs == 10  # explicit epochs kept
    assert gans.make_config("sketch2img").gp_weight == 10.0
    with pytest.raises(UsageError, match="not a preset of sketch2img; choose one of: seed"):
        gans.make_config("sketch2img", "fast")
    with pytest.raises(UsageError, match="--l1_weight needs --sketches=paired"):
        tiny_config("sketch2img", sketches="unpaired", l1_weight=1.0)
    with pytest.raises(UsageError, match="--diffaugment does not apply"):
        tiny_config("sketch2img", diffaugment="color")
    with pytest.raises(UsageError, match="--sketch_dir does not apply to dcgan"):
        tiny_config("dcgan", sketch_dir="/tmp/x")


def test_export_names_its_inputs_and_serve_reads_them(trained):
    from tfgan_cifar.lib.savedmodel import inputs_of
    from tfgan_cifar.serving.models import Served
    served = Served("sketch2img", str(trained / "models" / "sketch2img"), 1)
    assert served.meta["inputs"] == ["sketch", "label"] and served.main_input() == "sketch"
    assert set(served.input_specs("serving_default")) == {"sketch", "label"}
    # Exports written before the metadata named the inputs:
    assert inputs_of({"inputs": "sketch"}) == ["sketch", "label"]
    assert inputs_of({"conditional": True}) == ["z", "label"] and inputs_of({"conditional": False}) == ["z"]


def test_the_report_draws_a_sketch2img_export_from_the_inputs_its_variant_asks_for(trained, tmp_path):
    """The report asks the variant (no latent vectors for sketch2img): class rows from held-out sketches, equal to
    the export's answer to those sketches, and no latent walk."""
    import tensorflow as tf

    from tfgan_cifar.lib import images
    from tfgan_cifar.tools import report
    loaded, meta = savedmodel.load(str(trained / "models" / "sketch2img"))
    files = report.render_images(dict(meta=meta, loaded=loaded, run_dir="", best_epoch=None), str(tmp_path))
    assert set(files) == {"per_class"}
    shown = np.asarray(Image.open(tmp_path / "per_class.png"))[::2, ::2]
    # By hand: 80 held-out test images (seed 0), sorted by class, their sketches through the SavedModel alone.
    held_out = data.random_subset(data.load(meta["dataset"], "test", "data", meta["image_size"]), 80, 0)
    order = np.argsort(held_out.labels, kind="stable")
    sketches = sketch.sketches_of(held_out.images[order], meta["edge_threshold"], meta["edge_blur"])
    served = tf.saved_model.load(str(trained / "models" / "sketch2img")).signatures["serving_default"]
    fake = served(sketch=tf.constant(sketches.astype(np.float32) / 255.0),
                  label=tf.constant(held_out.labels[order].astype(np.int32)))["images"].numpy()
    np.testing.assert_array_equal(shown, images.grid(fake, rows=10))

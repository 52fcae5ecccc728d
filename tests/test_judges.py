"""The judges that share nothing with the evaluator: SWD on Laplacian-pyramid patches (checked against ProGAN's
own formulation and analytic values) and the classifier two-sample test."""
import math
import os

import numpy as np
import pytest
import scipy.ndimage
import scipy.special
import scipy.stats

from conftest import SHARED_CIFAR
from tfgan_cifar.lib import data, judges, swd, two_sample


def progan_pyramid(images_nhwc, levels):
    """ProGAN's metrics/sliced_wasserstein.py, written out: NCHW, 2-d 5x5 convolutions with mode='mirror'."""
    g = np.float32([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6], [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]]) / 256
    down = lambda m: scipy.ndimage.convolve(m, g[None, None], mode="mirror")[:, :, ::2, ::2]

    def up(m):
        res = np.zeros((m.shape[0], m.shape[1], m.shape[2] * 2, m.shape[3] * 2), m.dtype)
        res[:, :, ::2, ::2] = m
        return scipy.ndimage.convolve(res, g[None, None] * 4.0, mode="mirror")
    pyramid = [np.float32(images_nhwc.transpose(0, 3, 1, 2))]
    for _ in range(1, levels):
        pyramid.append(down(pyramid[-1]))
        pyramid[-2] -= up(pyramid[-1])
    return [p.transpose(0, 2, 3, 1) for p in pyramid]


def test_the_pyramid_is_progans():
    images = data.make_shapes(6, size=32).images
    ours, theirs = swd.laplacian_pyramid(images, 2), progan_pyramid(images, 2)
    assert [p.shape for p in ours] == [(6, 32, 32, 3), (6, 16, 16, 3)]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=1e-3)
    # The band-pass level plus the upsampled low-pass level gives the image back.
    np.testing.assert_allclose(ours[0] + swd.pyr_up(ours[1]), images.astype(np.float32), atol=1e-3)
    assert swd.levels_for(32) == [32, 16] and swd.levels_for(64) == [64, 32, 16]


def test_patches_are_the_pixels_around_random_centres():
    level = np.random.default_rng(1).standard_normal((3, 16, 16, 3)).astype(np.float32)
    got = swd.patches(level, np.random.default_rng(5), per_image=4)
    rng = np.random.default_rng(5)  # the same draws, taken by hand
    image = np.repeat(np.arange(3), 4)
    y, x = rng.integers(3, 13, 12), rng.integers(3, 13, 12)
    for k in range(12):
        np.testing.assert_array_equal(got[k], level[image[k], y[k] - 3:y[k] + 4, x[k] - 3:x[k] + 4].reshape(-1))


def test_sliced_wasserstein_of_a_shifted_set_is_the_mean_projected_shift():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2000, 20)).astype(np.float32)
    shift = rng.standard_normal(20).astype(np.float32)
    assert swd.sliced_wasserstein(a, a.copy()) == 0
    d = 20  # E|s.u| for u uniform on the unit sphere in d dimensions
    expected = np.linalg.norm(shift) * math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d + 1) / 2))
    got = swd.sliced_wasserstein(a, a + shift, directions=256, repeats=4)
    assert abs(got - expected) / expected < 0.08
    with pytest.raises(ValueError, match="one shape"):
        swd.sliced_wasserstein(a, a[:10])


def test_sliced_wasserstein_is_scipys_1d_distance_averaged_over_the_seeded_directions():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((300, 6)).astype(np.float32)
    b = (1.5 * rng.standard_normal((300, 6)) + 0.3).astype(np.float32)
    draws, expected = np.random.default_rng(7), []
    for _ in range(2):  # the directions drawn as sliced_wasserstein draws them, projected and compared by scipy
        dirs = draws.standard_normal((5, 6)).astype(np.float32)
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        expected += [scipy.stats.wasserstein_distance(a @ u, b @ u) for u in dirs]
    got = swd.sliced_wasserstein(a, b, seed=7, directions=5, repeats=2)
    assert got == pytest.approx(np.mean(expected), rel=1e-5)
    # a's sorted projections kept and reused (the quality monitor's real side) give the same figure every time
    kept = list(swd.sorted_projections(a, seed=7, directions=5, repeats=2))
    for other in (b, b):
        assert swd.sliced_wasserstein(a, other, 7, 5, 2, a_sorted=kept) == got
    rows = rng.standard_normal((5, 1000)).astype(np.float32)
    sorted_rows = rows.copy()
    swd.sort_rows(sorted_rows)  # in threads, each taking some of the rows
    np.testing.assert_array_equal(sorted_rows, np.sort(rows, axis=1))


def test_a_reference_keeping_its_sorted_side_scores_as_one_that_does_not():
    real, first, second = (data.make_shapes(100, seed=s).images for s in (0, 1, 2))
    fakes = (first, second, first[:80])
    fresh = judges.Reference(real, keep_sorted_bytes=0)
    want = [fresh.score(fake, two_sample_test=False) for fake in fakes]
    kept = judges.Reference(real)
    assert [kept.score(fake, two_sample_test=False) for fake in fakes] == want
    assert sorted(kept._sorted) == [80, 100] and fresh._sorted == {}
    size = lambda n: sum(p.nbytes for level in kept._sorted[n] for p in level)
    assert size(80) == swd.sorted_bytes(80, 32) and size(100) == swd.sorted_bytes(100, 32) == 100 * 2 * 2 ** 18
    # A budget that holds one set's projections keeps the first set's, and the later ones are sorted afresh.
    one = judges.Reference(real, keep_sorted_bytes=swd.sorted_bytes(100, 32))
    assert [one.score(fake, two_sample_test=False) for fake in (first, first[:80])] == [want[0], want[2]]
    assert sorted(one._sorted) == [100]


def test_the_two_sample_test_needs_ten_images_a_side():
    images = data.make_shapes(5).images
    with pytest.raises(ValueError, match="at least 10"):
        two_sample.c2st(images, images)


def test_the_critic_kept_between_calls_trains_as_a_new_one_would():
    """c2st keeps one compiled critic per image size (and dtype policy) in a process, reset before each call:
    after calls with other data, another seed and another size, a call trains to the weights a newly built
    critic reaches."""
    real = data.make_shapes(100, seed=0).images
    fake = np.clip(data.make_shapes(100, seed=1).images + np.random.default_rng(0).normal(0, 20, real.shape), 0, 255)
    fake = fake.astype(np.uint8)
    trained = lambda: [w.copy() for w in two_sample._critics[32, "float32"][0].get_weights()]
    two_sample._critics.clear()
    first, first_weights = two_sample.c2st(real, fake), trained()
    two_sample.c2st(fake, real, seed=1)  # other data and another seed move the weights and Adam's moments
    assert not all(np.allclose(a, b) for a, b in zip(trained(), first_weights))
    two_sample.c2st(real[:, :16, :16], fake[:, :16, :16])  # a critic of another size beside it
    assert two_sample.c2st(real, fake) == first
    for a, b in zip(trained(), first_weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    import keras
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")  # a call under another policy gets a critic of it
    try:
        two_sample.c2st(real, fake)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert two_sample._critics[32, "mixed_bfloat16"][0].layers[1].compute_dtype == "bfloat16"


# ------------------------------------------------------------------------------------------------ the strong evaluator

def test_the_whitening_layer_whitens_the_patches_it_was_fitted_on():
    from tfgan_cifar.lib import airbench
    images = data.make_shapes(300, seed=3).images
    floats = images.astype(np.float32) / 127.5 - 1.0
    mean, std = floats.mean((0, 1, 2)), floats.std((0, 1, 2))
    kernel = airbench.whitening_kernel(images, mean, std, eps=1e-8)
    assert kernel.shape == (2, 2, 3, 24)
    x = (floats - mean) / std  # a 2x2 'valid' convolution written out with the kernel's (i, j, channel) order
    out = sum(np.einsum("nhwc,cd->nhwd", x[:, i:31 + i, j:31 + j], kernel[i, j]) for i in range(2) for j in range(2))
    flat = out.reshape(-1, 24).astype(np.float64)
    np.testing.assert_allclose(flat[:, :12].T @ flat[:, :12] / len(flat), np.eye(12), atol=1e-3)
    np.testing.assert_allclose(out[..., 12:], -out[..., :12], atol=1e-5)  # the negated copies


def test_airbench_schedule_and_augmentation():
    from tfgan_cifar.lib import airbench
    assert airbench.lr_factor(0, 100) == pytest.approx(0.2) and airbench.lr_factor(23, 100) == pytest.approx(1.0)
    assert airbench.lr_factor(100, 100) == pytest.approx(0.07)
    assert airbench.lr_factor(60, 100) == pytest.approx(1 + (0.07 - 1) * 37 / 77)
    images = data.make_shapes(40, seed=4).images
    out = airbench.translate_and_flip(images, np.random.default_rng(0), pad=2)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    flips = 0
    for original, moved, p in zip(images, out, padded):  # each output is one shift of the image or of its mirror
        found = [(f, dy, dx) for f in (0, 1) for dy in range(5) for dx in range(5)
                 if np.array_equal((p[:, ::-1] if f else p)[dy:dy + 32, dx:dx + 32], moved)]
        assert found, "an augmented image is no shift of its image or its mirror"
        flips += found[0][0]
    assert 5 < flips < 35
    first = np.arange(40) % 3 == 0
    for epoch in (4, 5):  # alternating flips: the mirrored images are the given ones, in every other epoch all others
        order = np.random.default_rng(epoch).permutation(40)
        want = first[order] if epoch == 4 else ~first[order]
        out = airbench.translate_and_flip(images[order], np.random.default_rng(1), 2,
                                          airbench.alternating_flip(first, order, epoch))
        for moved, p, mirrored in zip(out, padded[order], want):
            shifts = [(p[:, ::-1] if mirrored else p)[dy:dy + 32, dx:dx + 32] for dy in range(5) for dx in range(5)]
            assert any(np.array_equal(s, moved) for s in shifts)


def test_the_airbench_stem_computes_in_float32_under_bfloat16():
    """The whitening stem's largest gains (~1/sqrt(eps)) multiply bfloat16's rounding past the signal: under
    the mixed policy its output must still match a float64 reference to float32 precision."""
    import keras
    from tfgan_cifar.lib import airbench
    images = data.make_shapes(64, seed=5).images
    floats = images.astype(np.float32) / 127.5 - 1.0
    mean, std = floats.mean((0, 1, 2)), floats.std((0, 1, 2))
    kernel = airbench.whitening_kernel(images, mean, std)
    x = ((floats - mean) / std).astype(np.float64)
    want = sum(np.einsum("nhwc,cd->nhwd", x[:, i:31 + i, j:31 + j], kernel[i, j]) for i in range(2) for j in range(2))
    errors = {}
    for stem_float32 in (True, False):
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
        try:
            model = airbench.build(32, 6, mean, std, kernel, "features", stem_float32=stem_float32)
        finally:
            keras.mixed_precision.set_dtype_policy("float32")
        stem = keras.Model(model.input, model.get_layer("whiten").output)
        got = np.asarray(stem(floats), np.float64)
        errors[stem_float32] = np.abs(got - want).max() / np.abs(want).max()
    assert errors[True] < 1e-5 < 1e-3 < errors[False], errors  # float32 rounding vs bfloat16's


def test_the_airbench_evaluator_learns_saves_and_loads(tmp_path):
    from tfgan_cifar.lib import evaluator
    # a quarter of its widths and one epoch more (0.994 against 0.999 at full width in 2, a quarter of the
    # time): learning, saving and loading do not depend on them
    trained = evaluator.train("shapes", epochs=3, examples=1500, verbose=0, out_dir=str(tmp_path / "ev"),
                              architecture="airbench", batch_size=256, widths=(16, 64, 64))
    meta = trained.meta
    assert meta["architecture"] == "airbench" and meta["test_accuracy"] > 0.9 and meta["train_seconds"] > 0
    assert meta["cpu"] and meta["precision"] in ("float32", "mixed_bfloat16")
    images = data.make_shapes(50, seed=9).images
    loaded = evaluator.load(str(tmp_path / "ev"))
    for a, b in zip(trained(images), loaded(images)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert trained(images)[0].shape == (50, 64)  # the last group's width


@pytest.mark.two_sample_power
def test_every_judge_ranks_held_out_real_images_first_and_damaged_copies_after(evaluator_root):
    """The floors on shapes: real held-out images score best on every judge; blurred, noised and shrunk copies
    of them score worse than they do on every judge. (Against trained generators on CIFAR-10:
    docs/evaluation.md.)"""
    from tfgan_cifar.evaluate import Judges
    from tfgan_cifar.lib import features
    from tfgan_cifar.tools.floors import REAL, score_floors
    extractor = features.make("evaluator", "shapes", 32, evaluator_root=str(evaluator_root / "models" / "evaluator"))
    train = data.load("shapes", "train", examples=3000)
    judges_ = Judges(extractor, "shapes", train, 32, data_dir=str(evaluator_root / "data"))
    scores = score_floors(judges_, data.random_subset(data.load("shapes", "test", examples=3000), 600), 32)
    assert set(scores) == {REAL, *judges.DAMAGED}
    n = min(600, len(data.reference_part(train)))
    for result in scores.values():
        assert result["swd"] == pytest.approx((result["swd_32"] + result["swd_16"]) / 2)  # the pyramid's mean
        # both judges compare equally many images a side: the reference part's, here fewer than 600
        assert result["swd_images"] == n and result["c2st_held_out"] == 2 * (n - int(n * two_sample.TRAIN_SHARE))
        # the p-value is the normal tail of the held-out accuracy under the null (chance, 0.5)
        z = (result["c2st"] - 0.5) / math.sqrt(0.25 / result["c2st_held_out"])
        assert result["c2st_p"] == pytest.approx(scipy.stats.norm.sf(z), rel=1e-6, abs=1e-300)
    real = scores.pop(REAL)
    assert abs(real["c2st"] - 0.5) < 0.1 and real["recall"] > 0.8
    for name, damaged in scores.items():
        for lower in ("fid", "kid"):
            assert damaged[lower] > real[lower], (name, lower)
        assert damaged["swd"] > 2 * real["swd"], name  # no network: SWD sees the damage plainly
        assert damaged["recall"] < real["recall"] and damaged["c2st"] > real["c2st"] + 0.2, name
        assert damaged["c2st_p"] < 1e-6, name  # the two-sample test tells them apart with confidence


def test_the_damages_are_what_they_say():
    images = data.make_shapes(8, seed=5).images
    blurred = judges.blurred(images)
    expected = scipy.ndimage.gaussian_filter(images.astype(np.float64), (0, 1, 1, 0), mode="reflect")
    assert np.abs(blurred - expected).max() <= 0.5 + 1e-6  # rounded to uint8
    noise = judges.noised(images).astype(np.float64) - images
    inside = (images > 40) & (images < 215)  # away from clipping
    assert abs(noise[inside].std() - 12.75) < 1.0 and abs(noise[inside].mean()) < 0.5
    shrunk = judges.shrunk(images)
    assert shrunk.shape == images.shape
    # Nothing finer than 16x16 is left: shrinking it again changes little; the original loses much more.
    again = judges.shrunk(shrunk).astype(np.float64)
    assert np.abs(again - shrunk).mean() < 0.5 * np.abs(shrunk.astype(np.float64) - images).mean()


def test_the_real_floor_is_scored_once_and_again_when_anything_it_depends_on_changes(evaluator_root, tmp_path,
                                                                                    monkeypatch):
    from tfgan_cifar.evaluate import Judges
    from tfgan_cifar.lib import features
    extractor = features.make("evaluator", "shapes", 32, evaluator_root=str(evaluator_root / "models" / "evaluator"))
    train, test = data.load("shapes", "train", examples=2000), data.load("shapes", "test", examples=2000)
    held_out = data.random_subset(test, 100)
    judges_ = Judges(extractor, "shapes", train, 32, data_dir=str(tmp_path))
    first = judges_.score_floor(held_out.images, held_out.labels)
    fresh = judges_.score(held_out.images, held_out.labels)
    assert first.keys() == fresh.keys() and all(first[k] == pytest.approx(fresh[k], abs=0.02) for k in fresh)
    assert len(list(tmp_path.glob("reference_stats/floor_*.json"))) == 1
    scored = []
    monkeypatch.setattr(Judges, "score", lambda self, *a, **k: scored.append(a) or fresh)
    assert judges_.score_floor(held_out.images, held_out.labels) == first and not scored  # from the cache
    # Other images, other labels, another seed or another reference: scored again, each under a key of its own.
    other = data.random_subset(test, 100, seed=1)
    judges_.score_floor(other.images, other.labels)
    judges_.score_floor(held_out.images, (held_out.labels + 1) % 10)
    Judges(extractor, "shapes", train, 32, data_dir=str(tmp_path), seed=1).score_floor(held_out.images,
                                                                                       held_out.labels)
    fewer = data.load("shapes", "train", examples=1500)
    Judges(extractor, "shapes", fewer, 32, data_dir=str(tmp_path / "b")).score_floor(held_out.images,
                                                                                     held_out.labels)
    assert len(scored) == 4 and len(list(tmp_path.glob("**/floor_*.json"))) == 5


def test_the_airbench_training_is_deterministic_on_one_machine():
    """What the evaluator's key (its weights' digest) relies on: the same seed and images give the same weights,
    bit for bit, under the machine's precision. (Across sessions the trainings differed: docs/evaluation.md.)"""
    from tfgan_cifar.lib import airbench, evaluator, precision
    images = data.make_shapes(512, seed=3)
    policy, _ = precision.choose()
    digests = [evaluator.weights_sha256(airbench.fit(images.images, images.labels, 10, 1, 128, seed=seed,
                                                     policy=policy, progress=False, widths=(8, 16, 16))[0])
               for seed in (0, 0, 1)]
    assert digests[0] == digests[1] != digests[2]


def test_jpeg_compression_is_tensorflows_encoder_and_decoder_at_that_quality():
    """Pillow's encoding and decoding (lib/images.jpeg_compressed) against TensorFlow's own JPEG ops with the same
    settings (4:2:0 chroma, the accurate integer DCT): bit for bit, at either quality, colour or grey."""
    import tensorflow as tf

    from tfgan_cifar.lib import images
    colour = data.make_shapes(16, seed=1).images
    grey = colour[..., :1]
    for quality in (75, 50):
        for x in (colour, grey):
            expected = np.stack([tf.io.decode_jpeg(tf.io.encode_jpeg(im, quality=quality, chroma_downsampling=True),
                                                   dct_method="INTEGER_ACCURATE").numpy() for im in x])
            got = images.jpeg_compressed(x, quality)
            assert got.shape == x.shape and np.array_equal(got, expected), (quality, x.shape)
            assert np.abs(got.astype(int) - x).mean() > 1  # it is lossy on these sharp-edged shapes
    with pytest.raises(ValueError, match="jpeg_compressed wants"):
        images.jpeg_compressed(colour[0])


@pytest.mark.skipif(not os.path.exists(os.path.join(SHARED_CIFAR, "cifar10_jpeg.npz")), reason="no shared CIFAR-10")
def test_quality_75_is_the_shared_cifar10_copys_own_compression():
    """Images decoded from the shared copy's files barely change when compressed again at quality 75 (the same
    quantisation tables and chroma sampling: only rounding moves), and change far more at any other quality."""
    import io

    from PIL import Image

    from tfgan_cifar.lib import images
    with np.load(os.path.join(SHARED_CIFAR, "cifar10_jpeg.npz")) as shared:
        files, offsets = shared["jpeg"], shared["offsets"]
    picked = range(0, len(offsets) - 1, 300)  # 200 images across both splits
    decoded = np.stack([np.asarray(Image.open(io.BytesIO(files[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB"))
                        for i in picked])
    change = {q: np.abs(images.jpeg_compressed(decoded, q).astype(int) - decoded).mean() for q in (60, 75, 90)}
    assert change[75] < 0.3 and change[60] > 4 * change[75] and change[90] > 4 * change[75], change


def test_the_compressed_rows_score_each_set_with_its_labels_at_that_quality():
    from tfgan_cifar.tools.floors import score_compressed

    class Recorder:  # a judge that hands back what it was given
        def score(self, images_uint8, labels, what, jpeg_quality):
            return dict(images=images_uint8, labels=labels, what=what, jpeg_quality=jpeg_quality)
    a, b = data.make_shapes(6, seed=2), data.make_shapes(4, seed=3)
    rows = score_compressed(Recorder(), {"real": (a.images, a.labels), "samples": (b.images, None)}, 60)
    assert list(rows) == ["real, JPEG q60", "samples, JPEG q60"]
    assert rows["real, JPEG q60"] == dict(images=a.images, labels=a.labels, what="real, JPEG q60", jpeg_quality=60)
    assert rows["samples, JPEG q60"]["images"] is b.images and rows["samples, JPEG q60"]["labels"] is None


def test_judges_at_a_jpeg_quality_score_the_compressed_images_and_keep_their_floor_apart(evaluator_root, tmp_path):
    """make eval --jpeg_quality: every judge sees the images as compressed at that quality (FID, KID and SWD are
    deterministic, so equal; the two-sample critic trains afresh), and the real floor so scored is cached under a
    key of its own."""
    from tfgan_cifar.evaluate import Judges
    from tfgan_cifar.lib import features, images
    extractor = features.make("evaluator", "shapes", 32, evaluator_root=str(evaluator_root / "models" / "evaluator"))
    train, test = data.load("shapes", "train", examples=2000), data.load("shapes", "test", examples=2000)
    held_out = data.random_subset(test, 100)
    judges_ = Judges(extractor, "shapes", train, 32, data_dir=str(tmp_path))
    matched = judges_.score(held_out.images, held_out.labels, jpeg_quality=50)
    compressed = judges_.score(images.jpeg_compressed(held_out.images, 50), held_out.labels)
    plain = judges_.score(held_out.images, held_out.labels)
    for key in ("fid", "kid", "recall", "class_accuracy", "swd"):
        assert matched[key] == pytest.approx(compressed[key], rel=1e-6), key
    assert matched["c2st"] == pytest.approx(compressed["c2st"], abs=0.05)
    assert matched["fid"] != pytest.approx(plain["fid"], rel=1e-3)  # quality 50 does change the shapes' pixels
    floor = judges_.score_floor(held_out.images, held_out.labels, jpeg_quality=50)
    assert floor["fid"] == pytest.approx(matched["fid"], rel=1e-6)
    assert judges_.score_floor(held_out.images, held_out.labels)["fid"] == pytest.approx(plain["fid"], rel=1e-6)
    assert len(list(tmp_path.glob("reference_stats/floor_*.json"))) == 2

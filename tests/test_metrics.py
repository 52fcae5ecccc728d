"""Metrics against independent references (scipy, analytic values) and on real-vs-noise sanity checks."""
import numpy as np
import pytest
import scipy.linalg

from tfgan_cifar.lib import metrics


def scipy_fid(a, b):
    ma, mb, ca, cb = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return np.sum((ma - mb) ** 2) + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real)


def test_fid_matches_scipy_on_random_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(800, 16))
    b = rng.normal(size=(800, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.7
    ref = scipy_fid(a, b)
    np.testing.assert_allclose(metrics.fid_from_activations(a, b), ref, rtol=1e-3)
    np.testing.assert_allclose(metrics.fid_from_statistics(*metrics.statistics(a), *metrics.statistics(b)), ref,
                               rtol=1e-3)


def test_classifier_score_of_uniform_one_hot_predictions_is_k():
    for k in (2, 5, 10):
        logits = np.full((10 * k, k), -30.0, np.float32)
        logits[np.arange(10 * k), np.arange(10 * k) % k] = 30.0  # confident, and every class equally often
        np.testing.assert_allclose(metrics.classifier_score(logits), k, rtol=1e-4)
    np.testing.assert_allclose(metrics.classifier_score(np.zeros((50, 7), np.float32)), 1.0, rtol=1e-5)


def test_kid_is_zero_for_identical_distributions_and_large_for_different():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))
    value, std = metrics.kid(a, b, max_block_size=100)  # 10 blocks: a usable standard error
    assert abs(value) <= 3 * std
    far, _ = metrics.kid(a, b + 2.0, max_block_size=100)
    assert far > 100 * std


def test_score_kid_does_not_depend_on_the_order_of_a_class_sorted_set():
    """Two samples of one 10-cluster mixture; the second sorted by cluster, as CIFAR-10's test batch is. KID
    averages over blocks of consecutive samples, so in file order each block is one cluster."""
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(10, 8)) * 3.0
    draw = lambda n: (lambda c: centres[c] + rng.normal(size=(n, 8)))(rng.integers(0, 10, n))
    reference = dict(features=draw(2000))
    sorted_set = draw(2000)
    sorted_set = sorted_set[np.argsort(np.argmin(((sorted_set[:, None] - centres[None]) ** 2).sum(-1), 1), kind="stable")]
    logits = np.zeros((2000, 10), np.float32)
    result = metrics.score(reference, sorted_set, logits, precision_recall_k=0)
    assert abs(result["kid"]) <= 3 * result["kid_std"]  # same distribution: KID ~ 0 whatever the order
    in_file_order, _ = metrics.kid(reference["features"], sorted_set, max_block_size=200)
    assert in_file_order > 10 * abs(result["kid"]) + 10 * result["kid_std"]  # the bias score() avoids


def _recall_by_scipy(target, probe, k):
    """Share of `target` inside some probe point's ball to its k-th nearest other probe point."""
    from scipy.spatial.distance import cdist
    radii = np.sort(cdist(probe, probe), axis=1)[:, k]
    return float(np.mean((cdist(target, probe) <= radii[None]).any(1)))


def test_intra_class_diversity_is_class_recall_relative_to_real():
    """Per class: the recall of generated samples over that of other real images, on the same real targets,
    checked against a scipy k-NN written here (same random split); a class collapsed onto one image scores
    about 0, a class generated from its own distribution about 1."""
    rng = np.random.default_rng(5)
    centres = np.eye(3, 8) * 6
    labels = np.repeat([0, 1, 2], 400)
    real = rng.normal(size=(1200, 8)) + centres[labels]
    fake_labels = np.repeat([0, 1, 2], 300)
    fake = np.concatenate([rng.normal(size=(300, 8)) + centres[0],          # the real distribution
                           np.repeat(real[400:401], 300, axis=0) + rng.normal(size=(300, 8)) * 1e-3,  # one image
                           0.5 * rng.normal(size=(300, 8)) + centres[2]])    # too narrow
    mean, worst, per_class = metrics.intra_class_diversity(real, labels, fake, fake_labels, per_class=150, seed=3)
    split = np.random.default_rng(3)
    expected = {}
    for c in range(3):
        r = real[labels == c][split.permutation(400)]
        f = fake[fake_labels == c][split.permutation(300)]
        expected[c] = _recall_by_scipy(r[:150], f[:150], 3) / _recall_by_scipy(r[:150], r[150:300], 3)
    assert per_class == pytest.approx(expected, rel=1e-12)
    assert 0.85 < per_class[0] < 1.15 and per_class[1] < 0.02 and 0.1 < per_class[2] < 0.8
    assert mean == pytest.approx(np.mean(list(expected.values()))) and worst == per_class[1]
    # score() reports it when the samples are labelled and the reference has labels; not otherwise.
    reference = dict(features=real, labels=labels)
    result = metrics.score(reference, fake, np.zeros((900, 3), np.float32), fake_labels, precision_recall_k=0)
    assert result["intra_class_diversity_min"] < 0.02 and set(result["intra_class_diversity_per_class"]) == {0, 1, 2}
    assert "intra_class_diversity" not in metrics.score(reference, fake, np.zeros((900, 3), np.float32),
                                                        precision_recall_k=0)


def test_precision_recall_identical_and_disjoint():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(500, 4))
    p, r = metrics.precision_recall(a, a.copy(), chunk=128)
    assert p == 1.0 and r == 1.0
    p, r = metrics.precision_recall(a, a + 100.0, chunk=128)
    assert p == 0.0 and r == 0.0
    # Fake covers half the real modes: precision stays high, recall drops to about a half.
    modes = np.concatenate([rng.normal(size=(250, 4)), rng.normal(size=(250, 4)) + 20])
    p, r = metrics.precision_recall(modes, rng.normal(size=(500, 4)), chunk=128)
    assert p > 0.9 and 0.4 < r < 0.6


def test_class_accuracy_overall_and_per_class():
    logits = np.eye(3)[[0, 1, 2, 1, 0, 0]]
    acc, per_class = metrics.class_accuracy(logits, [0, 1, 2, 2, 0, 1])
    assert acc == pytest.approx(4 / 6)
    assert per_class == {0: 1.0, 1: 0.5, 2: 0.5}


@pytest.fixture(scope="module")
def shapes_evaluator(evaluator_root):
    from tfgan_cifar.lib import evaluator
    return evaluator.load(evaluator.evaluator_dir("shapes", 32, str(evaluator_root / "models" / "evaluator")))


def test_evaluator_learns_shapes_and_conditional_accuracy_of_real_images_equals_it(shapes_evaluator):
    from tfgan_cifar.lib import data
    assert shapes_evaluator.meta["test_accuracy"] >= 0.95
    test = data.load("shapes", "test", examples=3000)
    _, logits = shapes_evaluator(test.images, batch_size=128)
    acc, _ = metrics.class_accuracy(logits, test.labels)
    assert acc == pytest.approx(shapes_evaluator.meta["test_accuracy"], abs=1e-6)


def test_evaluator_fid_real_halves_far_below_real_vs_noise(shapes_evaluator):
    from tfgan_cifar.lib import data
    real = data.load("shapes", "test", examples=5000).images
    noise = np.random.default_rng(0).integers(0, 256, real.shape, dtype=np.uint8)
    half = len(real) // 2
    fa, _ = shapes_evaluator(real[:half])
    fb, _ = shapes_evaluator(real[half:])
    fn, _ = shapes_evaluator(noise[:half])
    assert metrics.fid_from_activations(fa, fb) * 20 < metrics.fid_from_activations(fa, fn)


def test_evaluator_reloads_from_disk_with_safe_mode(shapes_evaluator):
    from tfgan_cifar.lib import data, evaluator
    again = evaluator.load(shapes_evaluator.path)
    images = data.make_shapes(20, seed=9).images
    np.testing.assert_allclose(again(images)[1], shapes_evaluator(images)[1], rtol=1e-5, atol=1e-5)
    assert again.meta == shapes_evaluator.meta

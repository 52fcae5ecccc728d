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


def test_mean_pairwise_distance_matches_scipy():
    from scipy.spatial.distance import pdist
    x = np.random.default_rng(4).normal(size=(40, 6))
    np.testing.assert_allclose(metrics.mean_pairwise_distance(x), pdist(x).mean(), rtol=1e-9)


def test_intra_class_diversity_is_the_spread_within_each_class_relative_to_real():
    """Class 0 generated as real class 0 shrunk by half around its mean (every distance halves: 0.5), class 1
    collapsed onto one image (0), class 2 a copy of real class 2 (1)."""
    rng = np.random.default_rng(5)
    real = rng.normal(size=(300, 8)) + np.repeat(np.eye(3, 8) * 5, 100, axis=0)
    labels = np.repeat([0, 1, 2], 100)
    c0 = real[labels == 0]
    fake = np.concatenate([c0.mean(0) + 0.5 * (c0 - c0.mean(0)), np.repeat(real[100:101], 100, axis=0),
                           real[labels == 2]])
    mean, worst, per_class = metrics.intra_class_diversity(real, labels, fake, labels)
    assert per_class[0] == pytest.approx(0.5, rel=1e-9) and per_class[1] == pytest.approx(0.0, abs=1e-6)
    assert per_class[2] == pytest.approx(1.0, rel=1e-9)
    assert mean == pytest.approx(0.5, rel=1e-6) and worst == pytest.approx(0.0, abs=1e-6)
    # score() reports it when the samples are labelled and the reference has labels; not otherwise.
    reference = dict(features=real, labels=labels)
    result = metrics.score(reference, fake, np.zeros((300, 3), np.float32), labels, precision_recall_k=0)
    assert result["intra_class_diversity"] == pytest.approx(0.5, rel=1e-6)
    assert "intra_class_diversity" not in metrics.score(reference, fake, np.zeros((300, 3), np.float32),
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

"""The compat module must keep loading TF-GAN's eval and losses without its broken top-level __init__."""
import numpy as np
import scipy.linalg


def test_losses_impl_loads_and_computes():
    from tfgan_cifar.tfgan import losses_impl
    logits = np.array([[0.3], [-1.2], [2.0]], np.float32)
    expected = np.mean(np.log1p(np.exp(-logits)))  # -log sigmoid(x)
    np.testing.assert_allclose(losses_impl.modified_generator_loss(logits, loss_collection=None).numpy(),
                               expected, rtol=1e-5)


def test_eval_loads_and_matches_scipy_fid():
    from tfgan_cifar import tfgan
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6)).astype(np.float64)
    b = (rng.normal(size=(500, 6)) * 1.5 + 0.3).astype(np.float64)
    ma, mb, ca, cb = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = np.sum((ma - mb) ** 2) + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real)
    fid = tfgan.eval.frechet_classifier_distance_from_activations(a, b).numpy()
    np.testing.assert_allclose(fid, ref, rtol=1e-3)

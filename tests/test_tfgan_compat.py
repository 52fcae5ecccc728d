"""The compat module must keep loading TF-GAN's eval and losses without its broken top-level __init__."""
import numpy as np


def test_losses_impl_loads_and_computes():
    from tfgan_cifar.lib.tfgan_compat import losses_impl
    logits = np.array([[0.3], [-1.2], [2.0]], np.float32)
    expected = np.mean(np.log1p(np.exp(-logits)))  # -log sigmoid(x)
    np.testing.assert_allclose(losses_impl.modified_generator_loss(logits, loss_collection=None).numpy(),
                               expected, rtol=1e-5)


def test_eval_loads_with_the_functions_we_use():
    from tfgan_cifar.lib import tfgan_compat
    for name in ("frechet_classifier_distance_from_activations", "classifier_score_from_logits",
                 "kernel_classifier_distance_and_std_from_activations", "classifier_fn_from_tfhub",
                 "INCEPTION_TFHUB", "INCEPTION_FINAL_POOL", "INCEPTION_OUTPUT"):
        assert hasattr(tfgan_compat.eval, name), name
    a = np.random.default_rng(0).normal(size=(50, 3))
    assert abs(float(tfgan_compat.eval.frechet_classifier_distance_from_activations(a, a))) < 1e-6

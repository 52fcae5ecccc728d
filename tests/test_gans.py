"""Every registered variant: train steps change both networks with finite losses; generate honours labels."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_config
from tfgan_cifar import data, gans


def batch(n=16, size=32):
    d = data.make_shapes(n, seed=0)
    return next(iter(data.make_pipeline(d, n, image_size=size, shuffle=False)))


def weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def changed(before, model):
    return any(not np.array_equal(a, b.numpy()) for a, b in zip(before, model.trainable_variables))


@pytest.mark.parametrize("model", sorted(gans.VARIANTS))
def test_two_train_steps_change_both_networks(model):
    gan = gans.build(tiny_config(model))
    gan.compile()
    g0, d0 = weights(gan.generator), weights(gan.discriminator)
    for _ in range(2):
        logs = gan.train_step(batch())
    assert changed(g0, gan.generator) and changed(d0, gan.discriminator)
    for name, value in logs.items():
        assert np.isfinite(float(value)), name


@pytest.mark.parametrize("model", sorted(gans.VARIANTS))
def test_generate_shape_range_and_labels(model):
    gan = gans.build(tiny_config(model))
    z = tf.random.normal([4, gan.nz])
    labels = tf.constant([0, 1, 2, 3]) if gan.conditional else None
    out = gan.generate(z, labels).numpy()
    assert out.shape == (4, 32, 32, 3) and out.min() >= -1 and out.max() <= 1
    if gan.conditional:  # changing only the label changes the image
        other = gan.generate(z, tf.constant([5, 6, 7, 8])).numpy()
        assert np.abs(out - other).max() > 1e-4


def test_dcgan_64px_architecture():
    gan = gans.build(tiny_config("dcgan", image_size=64))
    assert gan.generator.output_shape == (None, 64, 64, 3)
    assert gan.discriminator.output_shape == (None, 1)
    bn = [l for l in gan.discriminator.layers if isinstance(l, tf.keras.layers.Layer) and "batch_norm" in l.name]
    assert bn, "the DCGAN discriminator uses batch norm"


def test_dcgan_preset_is_the_published_one():
    c = tiny_config("dcgan")
    assert (c.g_lr, c.d_lr, c.beta1, c.nz, c.batch_size) == (2e-4, 2e-4, 0.5, 100, 16)  # batch set by tiny_config
    from tfgan_cifar.config import RunConfig, apply_preset
    default = apply_preset(RunConfig(model="dcgan"), gans.VARIANTS["dcgan"].PRESET, set())
    assert default.batch_size == 64 and default.width == 64

"""SpectralNorm (Miyato et al., 2018) against numpy: sigma vs SVD, the gradient vs central finite
differences of loss(W / sigma_max(W)), state handling, serialisation and mixed precision. The same
gradient check on Keras 3's SpectralNormalization shows why the project has its own layer."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgan_cifar.lib.layers import SpectralNorm


def normal(scale=1.0):
    return keras.initializers.RandomNormal(0.0, scale, seed=3)


# (the layer, an input, the axis of its kernel that holds the output channels)
CASES = {
    "dense": (lambda: keras.layers.Dense(5, kernel_initializer=normal()), lambda: tf.random.normal([3, 6], seed=1), -1),
    "conv": (lambda: keras.layers.Conv2D(4, 3, kernel_initializer=normal()),
             lambda: tf.random.normal([2, 6, 6, 3], seed=1), -1),
    "conv_transpose": (lambda: keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same",
                                                            kernel_initializer=normal()),
                       lambda: tf.random.normal([2, 3, 3, 3], seed=1), -2),
    "embedding": (lambda: keras.layers.Embedding(6, 5, embeddings_initializer=normal()),
                  lambda: tf.constant([0, 2, 5, 2]), 0),
}


def sigma_max(kernel, out_axis):
    """Largest singular value of the kernel viewed as out_channels x everything else (float64)."""
    matrix = np.moveaxis(np.asarray(kernel, np.float64), out_axis, 0)
    return np.linalg.svd(matrix.reshape(matrix.shape[0], -1), compute_uv=False)[0]


def make(case, iterations=1):
    layer_fn, x_fn, out_axis = CASES[case]
    keras.utils.set_random_seed(0)
    layer = SpectralNorm(layer_fn(), power_iterations=iterations)
    x = x_fn()
    layer(x)
    return layer, x, out_axis


@pytest.mark.parametrize("case", sorted(CASES))
def test_sigma_converges_to_the_largest_singular_value(case):
    layer, x, out_axis = make(case)
    expected = sigma_max(layer.kernel.numpy(), out_axis)
    assert abs(float(layer.sigma()) - expected) / expected > 1e-3  # a random u is far from it at first
    for _ in range(50):
        layer(x, training=True)
    np.testing.assert_allclose(float(layer.sigma()), expected, rtol=1e-3)


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_is_the_layer_with_its_kernel_divided_by_sigma(case):
    layer, x, out_axis = make(case, iterations=100)
    layer(x, training=True)  # converge u
    inner = layer.layer
    raw = layer.kernel.numpy()
    expected_kernel = raw / sigma_max(raw, out_axis)
    out = layer(x).numpy()
    layer.kernel.assign(expected_kernel)  # the plain layer with the analytically normalised kernel
    np.testing.assert_allclose(out, inner(x).numpy(), rtol=1e-4, atol=1e-5)


def finite_difference(loss, kernel, h=1e-5):
    grad = np.zeros_like(kernel)
    for index in np.ndindex(kernel.shape):
        up, down = kernel.copy(), kernel.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (loss(up) - loss(down)) / (2 * h)
    return grad


def linear_probe(inner, x, r):
    """G with sum(r * layer(x; K)) = <G, K> + const for any kernel K (the layer is linear in its kernel):
    so loss(W) = <G, W / sigma_max(W)> can be evaluated in float64 numpy, independently of the layers."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(r * inner(x))
    kernel = inner.embeddings if isinstance(inner, keras.layers.Embedding) else inner.kernel
    return tf.convert_to_tensor(tape.gradient(loss, kernel)).numpy().astype(np.float64)


def relative_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_flows_through_sigma(case):
    layer, x, out_axis = make(case, iterations=200)
    layer(x, training=True)  # u converged; frozen from here on (inference calls)
    r = tf.random.normal(layer(x).shape, seed=2)
    probe = linear_probe(layer.layer, x, r)
    raw = layer.kernel.numpy().astype(np.float64)
    expected = finite_difference(lambda w: np.sum(probe * w / sigma_max(w, out_axis)), raw)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(r * layer(x))
    grad = tf.convert_to_tensor(tape.gradient(loss, layer.kernel)).numpy()
    assert relative_error(grad, expected) < 1e-2, relative_error(grad, expected)
    # Dropping d sigma / d W (dividing by a constant sigma) is what the check must tell apart.
    assert relative_error(probe / sigma_max(raw, out_axis), expected) > 5e-2


def test_keras_spectral_normalization_does_not_give_the_papers_gradient():
    """Keras 3's layer assigns W / sigma into the kernel, then differentiates there: no d sigma / d W term."""
    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(5, use_bias=False, kernel_initializer=normal())
    layer = keras.layers.SpectralNormalization(dense, power_iterations=200)
    x = tf.random.normal([3, 6], seed=1)
    layer(x)
    raw = dense.kernel.numpy().astype(np.float64)
    r = tf.random.normal([3, 5], seed=2)
    probe = linear_probe(keras.layers.Dense(5, use_bias=False), x, r)
    expected = finite_difference(lambda w: np.sum(probe * w / sigma_max(w, -1)), raw)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(r * layer(x, training=True))
    grad = tape.gradient(loss, dense.kernel).numpy()
    assert not np.allclose(dense.kernel.numpy(), raw)  # the raw kernel was overwritten by W / sigma
    assert relative_error(grad, expected) > 5e-2, relative_error(grad, expected)


def test_calls_never_overwrite_the_kernel_and_inference_never_moves_u():
    layer, x, _ = make("conv")
    kernel, u = layer.kernel.numpy(), layer.u.numpy()
    layer(x)
    np.testing.assert_array_equal(layer.u.numpy(), u)
    layer(x, training=True)
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel)
    assert not np.allclose(layer.u.numpy(), u)
    assert [v.name for v in layer.trainable_weights] == ["kernel", "bias"]
    assert [v.name for v in layer.non_trainable_weights] == ["u"]


def test_checkpoint_export_and_config_round_trip(tmp_path):
    layer, x, _ = make("conv")
    for _ in range(5):
        layer(x, training=True)
    model = keras.Sequential([keras.Input((6, 6, 3)), layer])
    expected = model(x).numpy()
    # Checkpoint: u and the raw kernel come back into a fresh copy.
    prefix = tf.train.Checkpoint(model=model).save(os.path.join(tmp_path, "ckpt"))
    clone = keras.Sequential([keras.Input((6, 6, 3)), SpectralNorm.from_config(layer.get_config())])
    assert not np.allclose(clone(x).numpy(), expected)
    tf.train.Checkpoint(model=clone).restore(prefix).assert_existing_objects_matched()
    np.testing.assert_allclose(clone(x).numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(clone.layers[0].u.numpy(), layer.u.numpy())
    assert clone.layers[0].get_config() == layer.get_config()
    # SavedModel: the stored u travels with it (tf.saved_model.load alone).
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda t: model(t, training=False), input_signature=[tf.TensorSpec([None, 6, 6, 3])])
    tf.saved_model.save(module, os.path.join(tmp_path, "sm"))
    loaded = tf.saved_model.load(os.path.join(tmp_path, "sm"))
    np.testing.assert_allclose(loaded.serve(x).numpy(), expected, rtol=1e-6)


def test_mixed_bfloat16_keeps_the_normalisation_float32():
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(0)
        layer = SpectralNorm(keras.layers.Conv2D(4, 3, kernel_initializer=normal()))
        x = tf.random.normal([2, 6, 6, 3], seed=1)
        layer(x)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    for _ in range(200):  # bfloat16 has ~3 significant digits: only float32 math gets within 1e-3
        out = layer(x, training=True)
    assert out.dtype == tf.bfloat16
    assert layer.u.dtype == "float32" and layer.kernel.dtype == "float32"
    assert layer.sigma().dtype == tf.float32
    np.testing.assert_allclose(float(layer.sigma()), sigma_max(layer.kernel.numpy(), -1), rtol=1e-3)

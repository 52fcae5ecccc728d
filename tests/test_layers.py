"""Self-attention, conditional batch norm and the projection term against hand-computed values."""
import keras
import numpy as np
import tensorflow as tf

from tfgan_cifar.lib.layers import ConditionalBatchNorm, Projection, SelfAttention


def test_self_attention_is_identity_at_init_and_gamma_trains():
    layer = SelfAttention()
    x = tf.random.normal([2, 8, 8, 16])
    np.testing.assert_array_equal(layer(x, training=True).numpy(), x.numpy())
    assert any(v is layer.gamma for v in layer.trainable_weights)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True) ** 2)
    grad = tape.gradient(loss, layer.gamma)
    assert grad is not None and abs(float(grad)) > 0
    keras.optimizers.SGD(0.1).apply_gradients([(grad, layer.gamma)])
    assert float(layer.gamma) != 0 and not np.allclose(layer(x).numpy(), x.numpy())


def test_self_attention_attends_across_positions():
    layer = SelfAttention(spectral_norm=False)
    x = tf.random.normal([1, 4, 4, 8])
    layer(x)
    layer.gamma.assign(1.0)
    y0 = layer(x).numpy()
    x2 = x.numpy().copy()
    x2[0, 3, 3] += 5.0  # change one far corner...
    y1 = layer(tf.constant(x2)).numpy()
    assert np.abs(y1[0, 0, 0] - y0[0, 0, 0]).max() > 1e-4  # ...and the opposite corner's output moves


def test_conditional_batch_norm_uses_per_class_scale_and_shift():
    cbn = ConditionalBatchNorm(3)
    x = tf.random.normal([4, 2, 2, 5])
    labels = tf.constant([0, 1, 2, 1])
    cbn([x, labels], training=True)
    cbn.gamma.embeddings.assign(np.arange(15, dtype=np.float32).reshape(3, 5))
    cbn.beta.embeddings.assign(np.ones((3, 5), np.float32) * [[0], [10], [20]])
    out = cbn([x, labels], training=True).numpy()
    normed = ((x - tf.reduce_mean(x, [0, 1, 2])) / tf.sqrt(tf.math.reduce_variance(x, [0, 1, 2]) + 1e-5)).numpy()
    gamma, beta = cbn.gamma.embeddings.numpy(), cbn.beta.embeddings.numpy()
    expected = gamma[labels.numpy()][:, None, None] * normed + beta[labels.numpy()][:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_projection_is_embedding_dot_features():
    proj = Projection(4, spectral_norm=False)
    features = tf.random.normal([3, 6])
    labels = tf.constant([2, 0, 3])
    out = proj([features, labels]).numpy()
    table = proj.embedding.embeddings.numpy()  # [classes, features]
    np.testing.assert_allclose(out[:, 0], np.sum(table[labels.numpy()] * features.numpy(), -1), rtol=1e-5)

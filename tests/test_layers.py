"""Self-attention, conditional batch norm, the projection term and the minibatch standard deviation against
hand-computed values."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgan_cifar.lib import networks
from tfgan_cifar.lib.layers import (ConditionalBatchNorm, MinibatchStddev, Projection, SelfAttention,
                                   class_grouped_order)


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


def _minibatch_std_reference(x, group_size):
    """numpy, written out: groups are images i, i + n/g, i + 2n/g, ... (one group when g does not divide n); per group
    the mean over features of the population standard deviation over the group's images."""
    n = len(x)
    g = group_size if n % group_size == 0 else n
    stat = np.zeros(n)
    for j in range(n // g):
        members = list(range(j, n, n // g))
        stat[members] = np.mean(np.sqrt(np.var(x[members].astype(np.float64), axis=0) + 1e-8))
    return np.concatenate([x, np.broadcast_to(stat[:, None, None, None], (*x.shape[:3], 1))], -1)


@pytest.mark.parametrize("n, group_size", [(8, 4), (8, 2), (6, 4), (4, 4)])
def test_minibatch_std_is_each_groups_mean_feature_spread(n, group_size):
    x = np.random.default_rng(n + group_size).normal(size=(n, 4, 4, 3)).astype(np.float32)
    x[: n // 2] *= 3.0  # groups of different spread, so a wrong grouping gives other numbers
    np.testing.assert_allclose(MinibatchStddev(group_size)(x).numpy(), _minibatch_std_reference(x, group_size),
                               rtol=1e-5, atol=1e-6)


def test_minibatch_std_makes_a_score_depend_on_the_rest_of_its_group():
    """With it, D's scores of the other images of a group change when one image of the group changes, and those of
    the other group do not; without it, no other image's score changes."""
    x = np.random.default_rng(0).uniform(-1, 1, size=(8, 32, 32, 3)).astype(np.float32)
    other = x.copy()
    other[4] *= 20  # groups of 4 in a batch of 8: images 0, 2, 4, 6 and 1, 3, 5, 7
    same_group, other_group = [0, 2, 6], [1, 3, 5, 7]
    for group_size in (0, 4):
        keras.utils.set_random_seed(0)
        d = networks.dcgan_discriminator(32, width=8, minibatch_std=group_size)
        change = np.abs(d(x, training=False).numpy()[:, 0] - d(other, training=False).numpy()[:, 0])
        assert np.all(change[other_group] == 0)
        assert np.all(change[same_group] > 1e-4) if group_size else np.all(change[same_group] == 0)


@pytest.mark.parametrize("group_size", [2, 4])
def test_class_grouped_order_gives_each_group_consecutive_images_of_the_label_sorted_batch(group_size):
    labels = np.random.default_rng(group_size).integers(0, 10, 64)
    order = np.asarray(tf.function(lambda y: class_grouped_order(y, group_size),
                                   input_signature=[tf.TensorSpec([None], tf.int32)])(labels.astype(np.int32)))
    assert sorted(order) == list(range(64))
    by_label = np.argsort(labels, kind="stable")  # numpy's stable sort, written out independently
    groups = 64 // group_size
    for j in range(groups):  # MinibatchStddev's group j: images j, j + 64/g, ...
        np.testing.assert_array_equal(order[j::groups], by_label[j * group_size:(j + 1) * group_size])
    assert list(np.asarray(class_grouped_order(labels[:62], 4))) == list(range(62))  # 4 does not divide 62

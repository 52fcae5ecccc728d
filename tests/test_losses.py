"""Losses against hand-computed values; the gradient penalty against an analytic critic."""
import numpy as np
import tensorflow as tf

from tfgan_cifar.lib import losses

REAL = np.array([[1.5], [-0.5], [0.2]], np.float32)
FAKE = np.array([[-2.0], [0.7], [0.1]], np.float32)


def log_sigmoid(x):
    return -np.log1p(np.exp(-x))


def test_bce_losses():
    d = losses.minimax_discriminator_loss(REAL, FAKE).numpy()
    # TF-GAN sums the real and fake means: -mean log D(x) - mean log(1 - D(G(z)))
    expected = -np.mean(log_sigmoid(REAL)) - np.mean(log_sigmoid(-FAKE))
    np.testing.assert_allclose(d, expected, rtol=1e-5)
    np.testing.assert_allclose(losses.non_saturating_generator_loss(FAKE).numpy(), -np.mean(log_sigmoid(FAKE)),
                               rtol=1e-5)


def test_wasserstein_losses():
    np.testing.assert_allclose(losses.wasserstein_critic_loss(REAL, FAKE).numpy(), FAKE.mean() - REAL.mean(),
                               rtol=1e-5)
    np.testing.assert_allclose(losses.wasserstein_generator_loss(FAKE).numpy(), -FAKE.mean(), rtol=1e-5)


def test_hinge_losses():
    expected = np.mean(np.maximum(0, 1 - REAL)) + np.mean(np.maximum(0, 1 + FAKE))
    np.testing.assert_allclose(losses.hinge_discriminator_loss(REAL, FAKE).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(losses.hinge_generator_loss(FAKE).numpy(), -FAKE.mean(), rtol=1e-5)


def test_acgan_class_losses():
    logits_real = np.array([[2.0, 0.0, -1.0], [0.1, 0.3, 0.2]], np.float32)
    logits_fake = np.array([[0.0, 1.0, 0.0], [1.0, -1.0, 3.0]], np.float32)
    labels = np.array([0, 2])

    def xent(logits):
        logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        return -np.mean(logp[np.arange(2), labels])

    np.testing.assert_allclose(losses.acgan_discriminator_class_loss(logits_real, logits_fake, labels, 3).numpy(),
                               xent(logits_real) + xent(logits_fake), rtol=1e-5)
    for weight in (0.0, 0.25):  # --class_fake_weight
        np.testing.assert_allclose(
            losses.acgan_discriminator_class_loss(logits_real, logits_fake, labels, 3, fake_weight=weight).numpy(),
            xent(logits_real) + weight * xent(logits_fake), rtol=1e-5)
    np.testing.assert_allclose(losses.acgan_generator_class_loss(logits_fake, labels, 3).numpy(), xent(logits_fake),
                               rtol=1e-5)


def test_generator_class_loss_capped_at_a_confidence_is_zero_for_recognised_images():
    """--g_class_confidence=p: mean(max(CE - log(1/p), 0)), numpy written out; an image whose label has probability
    >= p gets no gradient, the others the plain cross-entropy's."""
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(8, 4)).astype(np.float32) * 3, np.arange(8) % 4
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    xent = -np.log(probs[np.arange(8), labels])
    for p in (0.2, 0.5):
        assert 0 < (xent < np.log(1 / p)).sum() < 8  # some images recognised, some not
        np.testing.assert_allclose(losses.acgan_generator_class_loss(logits, labels, 4, confidence=p).numpy(),
                                   np.maximum(xent - np.log(1 / p), 0).mean(), rtol=1e-5)
    x = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = losses.acgan_generator_class_loss(x, labels, 4, confidence=0.5)
    grad = tape.gradient(loss, x).numpy()
    recognised = xent < np.log(2)
    np.testing.assert_array_equal(grad[recognised], 0.0)
    np.testing.assert_allclose(grad[~recognised], (probs - np.eye(4)[labels])[~recognised] / 8, rtol=1e-4, atol=1e-7)


def test_mode_seeking_loss_is_msgan_written_out():
    """1 / (mean |a - b| / mean |z_a - z_b| + 1e-5); one image for two latent vectors: 1e5, the largest."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 4, 4, 3)).astype(np.float32), rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    z_a, z_b = rng.normal(size=(2, 8)).astype(np.float32), rng.normal(size=(2, 8)).astype(np.float32)
    expected = 1 / (np.abs(a - b).mean() / np.abs(z_a - z_b).mean() + 1e-5)
    np.testing.assert_allclose(losses.mode_seeking_loss(a, b, z_a, z_b).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(losses.mode_seeking_loss(a, a, z_a, z_b).numpy(), 1e5, rtol=1e-5)
    image = tf.Variable(b)
    with tf.GradientTape() as tape:  # G lowers it by moving the images apart
        loss = losses.mode_seeking_loss(a, image, z_a, z_b)
    image.assign_sub(0.1 * tf.sign(tape.gradient(loss, image)))
    assert losses.mode_seeking_loss(a, image, z_a, z_b).numpy() < loss.numpy()


def test_gradient_penalty_of_linear_critic_is_analytic():
    # D(x) = <w, x>: its input gradient is w everywhere, so the penalty is (||w|| - 1)^2 exactly.
    w = tf.constant(np.random.default_rng(0).normal(size=(1, 4, 4, 3)).astype(np.float32) * 0.3)
    critic = lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])
    real = tf.random.normal([5, 4, 4, 3])
    fake = tf.random.normal([5, 4, 4, 3])
    expected = (np.linalg.norm(w.numpy()) - 1.0) ** 2
    np.testing.assert_allclose(losses.gradient_penalty(critic, real, fake).numpy(), expected, rtol=1e-4)


def test_gradient_penalty_matches_finite_differences_for_a_nonlinear_critic():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(2 * 2 * 1,)).astype(np.float64)
    critic_np = lambda x: np.tanh(x.reshape(len(x), -1) @ w) ** 2
    critic = lambda x: tf.tanh(tf.reshape(x, [tf.shape(x)[0], -1]) @ tf.constant(w[:, None], tf.float32))[:, 0] ** 2
    real = rng.normal(size=(3, 2, 2, 1)).astype(np.float32)
    fake = rng.normal(size=(3, 2, 2, 1)).astype(np.float32)
    tf.random.set_seed(7)
    got = losses.gradient_penalty(critic, real, fake).numpy()
    tf.random.set_seed(7)  # the same interpolation weights, drawn as gradient_penalty draws them
    alpha = tf.random.uniform([3, 1, 1, 1]).numpy()
    x_hat = (alpha * real + (1 - alpha) * fake).astype(np.float64)
    grads = np.zeros_like(x_hat)
    h = 1e-5
    for idx in np.ndindex(x_hat.shape[1:]):
        e = np.zeros_like(x_hat)
        e[(slice(None),) + idx] = h
        grads[(slice(None),) + idx] = (critic_np(x_hat + e) - critic_np(x_hat - e)) / (2 * h)
    expected = np.mean((np.sqrt((grads ** 2).reshape(3, -1).sum(1)) - 1) ** 2)
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_gradient_penalty_is_finite_where_the_gradient_vanishes():
    critic = lambda x: tf.zeros([tf.shape(x)[0]])
    x = tf.Variable(tf.zeros([2, 4, 4, 3]))
    with tf.GradientTape() as tape:
        gp = losses.gradient_penalty(lambda y: critic(y) + 0.0 * tf.reduce_sum(y * x), x, x)
    assert np.isfinite(gp.numpy()) and abs(gp.numpy() - 1.0) < 1e-4
    assert np.all(np.isfinite(tape.gradient(gp, x).numpy()))


def test_r1_penalty_of_linear_discriminator_is_analytic_and_reaches_the_weights():
    # D(x) = <w, x>: its input gradient is w for every image, so the penalty is ||w||^2 and its gradient with
    # respect to w is 2w -- which needs the inner tape's gradient to be recorded by the outer one.
    w = tf.Variable(np.random.default_rng(2).normal(size=(1, 4, 4, 3)).astype(np.float32))
    real = tf.random.normal([5, 4, 4, 3])
    with tf.GradientTape() as tape:
        scores, r1 = losses.r1_penalty(lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3]), real)
    np.testing.assert_allclose(r1.numpy(), np.sum(w.numpy() ** 2), rtol=1e-5)
    np.testing.assert_allclose(scores.numpy(), np.sum(real.numpy() * w.numpy(), axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(r1, w).numpy(), 2 * w.numpy(), rtol=1e-5)


def test_r1_penalty_matches_finite_differences_for_a_nonlinear_discriminator():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(2 * 2 * 1,))
    d_np = lambda x: np.tanh(x.reshape(len(x), -1) @ w) ** 2
    d_tf = lambda x: tf.tanh(tf.reshape(x, [tf.shape(x)[0], -1]) @ tf.constant(w[:, None], tf.float32))[:, 0] ** 2
    real = rng.normal(size=(3, 2, 2, 1))
    grads, h = np.zeros_like(real), 1e-5
    for idx in np.ndindex(real.shape[1:]):
        e = np.zeros_like(real)
        e[(slice(None),) + idx] = h
        grads[(slice(None),) + idx] = (d_np(real + e) - d_np(real - e)) / (2 * h)
    _, got = losses.r1_penalty(d_tf, real.astype(np.float32))
    np.testing.assert_allclose(got.numpy(), np.mean((grads ** 2).reshape(3, -1).sum(1)), rtol=1e-3)


def d2dce_by_loops(embeddings, proxies, labels, temperature=0.5, m_p=0.98, m_n=0.02):
    """ReACGAN's eq. 7 written out sample by sample (float64)."""
    unit = lambda v: v / np.linalg.norm(v)
    total = 0.0
    for i, (e, y) in enumerate(zip(embeddings, labels)):
        positive = np.exp(-max(0.0, m_p - unit(e) @ unit(proxies[y])) / temperature)
        negatives = sum(np.exp(max(0.0, unit(e) @ unit(f) - m_n) / temperature)
                        for j, (f, y2) in enumerate(zip(embeddings, labels)) if y2 != y)
        total += -np.log(positive / (positive + negatives))
    return total / len(labels)


def test_data_to_data_cross_entropy_matches_the_paper_written_out():
    rng = np.random.default_rng(3)
    embeddings, proxies = rng.normal(size=(7, 5)), rng.normal(size=(3, 5))
    embeddings[4] = proxies[1] * 2.0 + 1e-3  # cosine to its proxy above the margin: no attraction left
    labels = np.array([0, 1, 2, 1, 1, 0, 2])
    cosines = (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)) @ \
        (proxies / np.linalg.norm(proxies, axis=1, keepdims=True)).T
    got = losses.data_to_data_cross_entropy(embeddings.astype(np.float32), cosines.astype(np.float32), labels)
    np.testing.assert_allclose(got.numpy(), d2dce_by_loops(embeddings, proxies, labels), rtol=1e-5)
    # One class only: no negatives, so each sample's softmax has one term and the loss is 0 whatever the
    # cosines (the attraction to the proxy works only against samples of other classes).
    same = np.zeros(7, int)
    np.testing.assert_allclose(losses.data_to_data_cross_entropy(embeddings.astype(np.float32),
                                                                 cosines.astype(np.float32), same).numpy(), 0.0,
                               atol=1e-6)


def test_adc_losses_are_one_softmax_over_real_and_generated_classes():
    """ADC-GAN (Hou et al., 2022) written out with numpy: C is a softmax over 2K classes, the first K "real
    image of class c", the last K "generated image of class c". D: -log C(y | x_real) - log C(K + y | x_fake);
    G: -log C(y | x_fake) + log C(K + y | x_fake)."""
    rng = np.random.default_rng(5)
    k, real, fake = 3, rng.normal(size=(4, 6)) * 3, rng.normal(size=(4, 6)) * 3
    labels = np.array([0, 2, 1, 2])
    log_c = lambda logits: logits - np.log(np.exp(logits).sum(1, keepdims=True))
    rows = np.arange(4)
    d = -np.mean(log_c(real)[rows, labels]) - np.mean(log_c(fake)[rows, labels + k])
    g = np.mean(-log_c(fake)[rows, labels] + log_c(fake)[rows, labels + k])
    np.testing.assert_allclose(losses.adc_discriminator_class_loss(real.astype(np.float32), fake.astype(np.float32),
                                                                   labels, k).numpy(), d, rtol=1e-5)
    np.testing.assert_allclose(losses.adc_generator_class_loss(fake.astype(np.float32), labels, k).numpy(), g,
                               rtol=1e-5)
    # G's loss is 0 where C cannot tell its image's real class from its generated one, whatever else C says.
    tied = fake.copy()
    tied[rows, labels + k] = tied[rows, labels]
    np.testing.assert_allclose(losses.adc_generator_class_loss(tied.astype(np.float32), labels, k).numpy(), 0.0,
                               atol=1e-6)

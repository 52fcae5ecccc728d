"""Adversarial losses as pure functions of discriminator outputs (logits), each a scalar mean.

Thin wrappers over TF-GAN's `losses_impl` where it has the loss; the wrappers fix the arguments that
matter (no label smoothing unless asked, mean reduction) so a variant's train_step reads like the paper.
"""
import functools
import math

import keras
import tensorflow as tf

from tfgan_cifar.lib.tfgan_compat import losses_impl as _tfgan

_NO_COLLECTION = dict(loss_collection=None)


def minimax_discriminator_loss(real_logits, fake_logits, label_smoothing=0.0):
    """BCE: -log D(x) - log(1 - D(G(z))), D = sigmoid(logits)."""
    return _tfgan.minimax_discriminator_loss(real_logits, fake_logits, label_smoothing=label_smoothing,
                                             **_NO_COLLECTION)


def non_saturating_generator_loss(fake_logits):
    """-log D(G(z)): the 'modified' minimax generator loss of Goodfellow et al. (2014)."""
    return _tfgan.modified_generator_loss(fake_logits, **_NO_COLLECTION)


def wasserstein_critic_loss(real_scores, fake_scores):
    """E[D(G(z))] - E[D(x)]."""
    return _tfgan.wasserstein_discriminator_loss(real_scores, fake_scores, **_NO_COLLECTION)


def wasserstein_generator_loss(fake_scores):
    """-E[D(G(z))]."""
    return _tfgan.wasserstein_generator_loss(fake_scores, **_NO_COLLECTION)


def hinge_discriminator_loss(real_scores, fake_scores):
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))] (SAGAN / SN-GAN)."""
    return _tfgan.wasserstein_hinge_discriminator_loss(real_scores, fake_scores, **_NO_COLLECTION)


def hinge_generator_loss(fake_scores):
    """-E[D(G(z))], the generator side of the hinge loss."""
    return wasserstein_generator_loss(fake_scores)


def acgan_discriminator_class_loss(real_class_logits, fake_class_logits, labels, num_classes, fake_weight=1.0):
    """Cross-entropy of the auxiliary classifier on real images plus `fake_weight` times that on generated
    ones (TF-GAN's ACGAN loss; 1 is the original, 0 trains the classifier on real images only)."""
    one_hot = tf.one_hot(labels, num_classes)
    return _tfgan.acgan_discriminator_loss(real_class_logits, fake_class_logits, one_hot,
                                           generated_weights=fake_weight, **_NO_COLLECTION)


def acgan_generator_class_loss(fake_class_logits, labels, num_classes, confidence=1.0):
    """Cross-entropy of the auxiliary classifier on generated images, for the requested labels. With
    confidence p < 1, mean(max(CE - log(1/p), 0)): an image whose label the classifier already gives
    probability p adds no loss and no gradient, so G is not pushed past "recognised" toward the classifier's
    most confident (least varied) images of the class."""
    one_hot = tf.one_hot(labels, num_classes)
    if confidence == 1.0:
        return _tfgan.acgan_generator_loss(fake_class_logits, one_hot, **_NO_COLLECTION)
    per_image = _tfgan.acgan_generator_loss(fake_class_logits, one_hot, reduction=tf.compat.v1.losses.Reduction.NONE,
                                            **_NO_COLLECTION)
    return tf.reduce_mean(tf.nn.relu(per_image - math.log(1.0 / confidence)))


def adc_discriminator_class_loss(real_logits, fake_logits, labels, num_classes):
    """ADC-GAN's classifier loss (Hou et al., 2022): one softmax over 2K classes, "real image of class c" (the
    first K logits) and "generated image of class c" (the last K); real images are taught their class among the
    first K, generated ones theirs among the last K. Logits [B, 2K]."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    ce = lambda logits, target: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        target, tf.cast(logits, tf.float32)))
    return ce(real_logits, labels) + ce(fake_logits, labels + num_classes)


def adc_generator_class_loss(fake_logits, labels, num_classes):
    """G's side of ADC-GAN: -log C(real, y | G(z, y)) + log C(generated, y | G(z, y)), the mean over the batch.
    The softmax's normaliser cancels, so it is the generated-class logit minus the real-class one: G is pulled
    towards where D's classifier puts real images of y and away from where it puts its own, which (unlike
    AC-GAN's cross-entropy) is minimised by the data's class-conditional distribution, not by images easier
    to classify than the data's."""
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    logits = tf.cast(fake_logits, tf.float32)
    return tf.reduce_mean(tf.gather(logits, labels + num_classes, batch_dims=1)
                          - tf.gather(logits, labels, batch_dims=1))


def mode_seeking_loss(images_a, images_b, z_a, z_b, eps=1e-5):
    """MSGAN's mode-seeking term (Mao et al., 2019, eq. 3, as their code minimises it): 1 / (d_I / d_z + eps),
    d_I = mean |images_a - images_b|, d_z = mean |z_a - z_b|, the images drawn from z_a and z_b under the same
    conditions. Small when distant latent vectors give distant images, large when they give one image."""
    ratio = tf.reduce_mean(tf.abs(tf.cast(images_a, tf.float32) - tf.cast(images_b, tf.float32))) / \
        tf.reduce_mean(tf.abs(z_a - z_b))
    return 1.0 / (ratio + eps)


def data_to_data_cross_entropy(embeddings, proxy_cosines, labels, temperature=0.5, positive_margin=0.98,
                               negative_margin=0.02):
    """ReACGAN's D2D-CE (Kang et al., 2021, eq. 7), the mean over the batch of

        -log( exp(p_i) / (exp(p_i) + sum_{j: y_j != y_i} exp(n_ij)) ),
        p_i = -[positive_margin - cos(e_i, v_{y_i})]_+ / T,   n_ij = [cos(e_i, e_j) - negative_margin]_+ / T,

    e_i the sample embeddings, v_c the class proxies (`proxy_cosines` [B, K] holds cos(e_i, v_c)). Unlike the
    softmax cross-entropy it compares samples with each other: a sample is pulled to its class proxy until
    their cosine reaches the margin, and pushed away from samples of other classes only while they are
    more similar than the negative margin; same-class samples are never pushed apart (no false negatives).
    Margins and temperature are StudioGAN's CIFAR-10 values (negative_margin = 1 - positive_margin there).
    Computed in float32 through a log-sum-exp."""
    e = tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=-1)
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    positive = -tf.nn.relu(positive_margin - tf.gather(tf.cast(proxy_cosines, tf.float32), labels, batch_dims=1))
    negative = tf.nn.relu(tf.matmul(e, e, transpose_b=True) - negative_margin)
    other_class = tf.not_equal(labels[:, None], labels[None, :])  # the diagonal and same-class pairs drop out
    negative = tf.where(other_class, negative / temperature, tf.constant(-float("inf")))
    logits = tf.concat([positive[:, None] / temperature, negative], axis=1)
    return tf.reduce_mean(tf.reduce_logsumexp(logits, axis=1) - positive / temperature)


def gradient_penalty(critic, real, fake, seed=None, target=1.0, epsilon=1e-10, alpha=None):
    """WGAN-GP: E[(||grad_x D(x_hat)||_2 - target)^2] on x_hat = a*real + (1-a)*fake, a ~ U[0,1] per sample.

    `critic` maps images to scores (close over labels/sketches for conditional critics). The epsilon
    inside the sqrt keeps the gradient of the norm finite where the input gradient is exactly zero.
    Computed in float32 whatever the compute dtype. `seed`: a keras.random.SeedGenerator (checkpointable
    RNG state); None draws from TensorFlow's global generator. `alpha`: the [B, 1, 1, 1] interpolation
    weights, when the caller draws them (the GAN does, replica-aware).
    """
    real, fake = tf.cast(real, tf.float32), tf.cast(fake, tf.float32)
    shape = [tf.shape(real)[0], 1, 1, 1]
    if alpha is None:
        alpha = tf.random.uniform(shape) if seed is None else keras.random.uniform(shape, seed=seed)
    x_hat = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = tf.cast(critic(x_hat), tf.float32)
    grads = tape.gradient(scores, x_hat)
    norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + epsilon)
    return tf.reduce_mean(tf.square(norm - target))


def r1_penalty(discriminator, real):
    """R1 (Mescheder et al., 2018): E[||grad_x D(x)||_2^2] on real images; the paper's regulariser is gamma/2 times it.

    Returns (D(real), penalty): the penalty needs D's forward pass on the real batch, which the caller's loss
    reuses. Call it inside the caller's tape (the penalty's gradient reaches D's weights through the inner one).
    Computed in float32 whatever the compute dtype.
    """
    real = tf.cast(real, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(real)
        scores = discriminator(real)
        total = tf.reduce_sum(tf.cast(scores, tf.float32))  # inside the tape, or the gradient below is None
    grads = tape.gradient(total, real)
    return scores, tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))


# --loss choices of the variants that offer one: name -> (discriminator loss, generator loss).
ADVERSARIAL = {
    "bce": (minimax_discriminator_loss, non_saturating_generator_loss),
    "hinge": (hinge_discriminator_loss, hinge_generator_loss),
}


def adversarial_pair(name, label_smoothing=0.0):
    d_loss, g_loss = ADVERSARIAL[name]
    if name == "bce" and label_smoothing:
        d_loss = functools.partial(d_loss, label_smoothing=label_smoothing)
    return d_loss, g_loss

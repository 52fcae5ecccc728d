"""Each variant's train_step against the paper's algorithm written out by hand with Keras and TensorFlow only
(no project losses, no GAN.step): the same weights, batch, latent vectors and interpolation weights, one
step each, then every weight of both networks (batch-norm statistics and spectral-norm vectors included)
must agree. dcgan's step is checked the same way in test_gans.py (mlp's is dcgan's with other networks)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_config
from test_gans import batch
from tfgan_cifar import gans

BATCH = 16


def twins(model, **overrides):
    """The variant, and a second build of it with the same weights that the test steps by hand."""
    config = tiny_config(model, **overrides)
    gan, ref = gans.build(config), gans.build(config)
    gan.compile()
    for mine, theirs in zip(ref.generator.variables + ref.discriminator.variables,
                            gan.generator.variables + gan.discriminator.variables):
        mine.assign(theirs)
    return gan, ref


def replay(gan, zs, alphas=()):
    """Make the variant's draws of latent vectors and interpolation weights come from these lists, in order."""
    z_iter, alpha_iter = iter(zs), iter(alphas)
    gan.sample_z = lambda n: next(z_iter)
    gan.draw = lambda random_fn, shape: next(alpha_iter)


def latent(count, nz=100):
    return [tf.random.stateless_normal([BATCH, nz], seed=[3, k]) for k in range(count)]


def apply(optimizer, loss_tape, loss, network):
    # Embedding gradients come as IndexedSlices with repeated rows (one per sample of a class); as a dense
    # tensor they are summed per row, which is the gradient.
    grads = [tf.convert_to_tensor(g) for g in loss_tape.gradient(loss, network.trainable_variables)]
    optimizer.apply_gradients(zip(grads, network.trainable_variables))
    return grads


def assert_same_weights(gan, ref, initial, atol=2e-6, adam_first_step=None):
    """The variant's weights equal the hand-stepped twin's. adam_first_step=(network name, its gradients, lr):
    Adam's first step is lr g / (|g| + eps), which moves a weight by lr sign(g) whatever |g|, except within ~100 eps
    (1e-5) of 0, where it turns a difference of 1e-6 in g (float noise carried through two differently ordered D
    steps) into up to 2e-6; those few weights (about 1 in 10,000) are held to the step's own bound instead,
    |step| <= lr."""
    moved = 0.0
    for net in ("generator", "discriminator"):
        network, exact = getattr(ref, net), {}
        if adam_first_step and adam_first_step[0] == net:
            exact = {v.path: np.abs(g.numpy()) >= 100 * 1e-7 for v, g in zip(network.trainable_variables,
                                                                          adam_first_step[1])}
        for a, b, start in zip(getattr(gan, net).variables, network.variables, initial[net]):
            keep = exact.get(b.path, np.ones(a.shape, bool))
            np.testing.assert_allclose(a.numpy()[keep], b.numpy()[keep], rtol=1e-4, atol=atol,
                                       err_msg=f"{net} {a.path}")
            if not keep.all():
                assert np.all(np.abs(a.numpy() - start)[~keep] <= adam_first_step[2] * (1 + 1e-4)), f"{net} {a.path}"
            moved = max(moved, float(np.abs(a.numpy() - start).max()))
    assert moved > 1e-5  # the step did move the weights: equality is not the untouched start


def snapshot(gan):
    return {net: [v.numpy().copy() for v in getattr(gan, net).variables] for net in ("generator", "discriminator")}


def test_wgan_step_is_algorithm_1_of_arjovsky_et_al():
    """n_critic RMSProp critic steps on E[D(fake)] - E[D(real)], weights clipped to [-c, c] after each; then one
    RMSProp generator step on -E[D(G(z))]."""
    n_critic, c, lr = 2, 0.01, 5e-5
    gan, ref = twins("wgan", n_critic=n_critic, clip_value=c)
    initial, (real, labels), zs = snapshot(gan), batch(BATCH, model="wgan"), latent(n_critic + 1)
    replay(gan, zs)
    gan.train_step((real, labels))

    G, D = ref.generator, ref.discriminator
    g_opt, d_opt = keras.optimizers.RMSprop(lr), keras.optimizers.RMSprop(lr)
    for k in range(n_critic):
        fake = G(zs[k], training=True)
        with tf.GradientTape() as tape:
            d_loss = tf.reduce_mean(D(fake, training=True)) - tf.reduce_mean(D(real, training=True))
        apply(d_opt, tape, d_loss, D)
        for v in D.trainable_variables:
            v.assign(tf.clip_by_value(v, -c, c))
    with tf.GradientTape() as tape:
        g_loss = -tf.reduce_mean(D(G(zs[-1], training=True), training=True))
    apply(g_opt, tape, g_loss, G)
    assert_same_weights(gan, ref, initial)


def gradient_penalty_by_hand(D, real, fake, alpha, D_inputs=lambda x: x):
    x_hat = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as inner:
        inner.watch(x_hat)
        scores = D(D_inputs(x_hat), training=True)
    grads = inner.gradient(scores, x_hat)
    norms = tf.sqrt(tf.reduce_sum(grads ** 2, axis=[1, 2, 3]) + 1e-10)
    return tf.reduce_mean((norms - 1.0) ** 2)


@pytest.mark.parametrize("model", ["wgan_gp", "cgan"])
def test_wgan_gp_step_is_algorithm_1_of_gulrajani_et_al(model):
    """n_critic Adam(1e-4, 0, 0.9) critic steps on E[D(fake)] - E[D(real)] + lambda E[(||grad D(x_hat)|| - 1)^2],
    x_hat = a real + (1 - a) fake with one a per sample; then one generator step on -E[D(G(z))]. cgan: the same
    with the label given to both networks."""
    n_critic, gp_weight = 2, 10.0
    gan, ref = twins(model, n_critic=n_critic)
    initial, (real, labels), zs = snapshot(gan), batch(BATCH, model=model), latent(n_critic + 1)
    alphas = [tf.random.stateless_uniform([BATCH, 1, 1, 1], seed=[5, k]) for k in range(n_critic)]
    replay(gan, zs, alphas)
    gan.train_step((real, labels))

    G, D = ref.generator, ref.discriminator
    conditional = model == "cgan"
    g_in = (lambda z: [z, labels]) if conditional else (lambda z: z)
    d_in = (lambda x: [x, labels]) if conditional else (lambda x: x)
    g_opt, d_opt = (keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9) for _ in range(2))
    for k in range(n_critic):
        fake = G(g_in(zs[k]), training=True)
        with tf.GradientTape() as tape:
            w = tf.reduce_mean(D(d_in(fake), training=True)) - tf.reduce_mean(D(d_in(real), training=True))
            d_loss = w + gp_weight * gradient_penalty_by_hand(D, real, fake, alphas[k], d_in)
        apply(d_opt, tape, d_loss, D)
    with tf.GradientTape() as tape:
        g_loss = -tf.reduce_mean(D(d_in(G(g_in(zs[-1]), training=True)), training=True))
    apply(g_opt, tape, g_loss, G)
    assert_same_weights(gan, ref, initial)


def test_the_default_acgan_discriminator_sees_augmented_images_and_without_diffaugment_the_plain_ones():
    real, _ = batch(BATCH, model="acgan")
    for diffaugment, augmented in (("translation,cutout", True), (None, True), ("", False)):
        gan = gans.build(tiny_config("acgan", **({} if diffaugment is None else dict(diffaugment=diffaugment))))
        through_step = gan.discriminate(real, training=True)[0].numpy()
        plain = gan.discriminator(real, training=True)[0].numpy()
        assert np.allclose(through_step, plain) != augmented, diffaugment  # None: the default


@pytest.mark.parametrize("levers", [dict(loss="bce", class_fake_weight=1.0, conditioning="multiply"), {},
                                    dict(loss="bce", g_class_weight=0.5, d_class_weight=2.0, class_fake_weight=0.25),
                                    dict(class_loss="tac"), dict(class_loss="adc"),
                                    dict(mode_seeking_weight=2.0), dict(g_class_confidence=0.1),
                                    dict(minibatch_std=4), dict(minibatch_std=4, minibatch_std_by_class=True)])
def test_acgan_step_is_odena_et_al(levers):
    """The paper (first case): D maximises log-likelihood of the right source and the right class, on real and
    generated images: BCE(real) + BCE(fake) + CE(class | real) + CE(class | fake); then G: non-saturating
    BCE + CE(class | fake). Adam(2e-4, 0.5) for both. The default takes the hinge instead of BCE and drops
    CE(class | fake) from D's loss (class_fake_weight 0). With the levers: D's class term weighted
    d_class_weight * (CE(real) + class_fake_weight * CE(fake)), G's weighted g_class_weight; TAC-GAN: D's
    class term adds the twin classifier's CE on generated images, G's subtracts it; MSGAN: G's loss adds
    mode_seeking_weight / (mean |G(z1, y) - G(z2, y)| / mean |z1 - z2| + 1e-5), z2 a third draw. ADC-GAN: the
    two heads are one softmax over 2K classes; D's class term is CE(y | real) + CE(K + y | fake) over them, G's
    CE(y | fake) - CE(K + y | fake). --g_class_confidence=p: G's CE(y | fake) is mean over images of
    max(CE - log(1/p), 0). --minibatch_std: D, with ProGAN's layer, sees real and generated images in separate
    calls, so a group's spread is that of one kind of image; --minibatch_std_by_class: the batch and its labels
    first put in the order whose groups (images j, j + n/g, ...) are runs of the label-sorted batch."""
    gan, ref = twins("acgan", diffaugment="", **levers)  # the algorithm box; the default's DiffAugment: test_gans
    initial, (real, labels), zs = snapshot(gan), batch(BATCH, model="acgan"), latent(3)
    replay(gan, zs)
    gan.train_step((real, labels))
    if levers.get("minibatch_std_by_class"):
        order = np.argsort(np.asarray(labels), kind="stable").reshape(-1, levers["minibatch_std"]).T.reshape(-1)
        real, labels = tf.gather(real, order), tf.gather(labels, order)

    G, D = ref.generator, ref.discriminator
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if levers.get("loss", "hinge") == "hinge":
        d_source = lambda real, fake: tf.reduce_mean(tf.nn.relu(1 - real)) + tf.reduce_mean(tf.nn.relu(1 + fake))
        g_source = lambda fake: -tf.reduce_mean(fake)
    else:
        d_source = lambda real, fake: bce(tf.ones_like(real), real) + bce(tf.zeros_like(fake), fake)
        g_source = lambda fake: bce(tf.ones_like(fake), fake)
    d_weight, g_weight = levers.get("d_class_weight", 1.0), levers.get("g_class_weight", 1.0)
    fake_weight = levers.get("class_fake_weight", 0.0)
    g_opt, d_opt = (keras.optimizers.Adam(2e-4, beta_1=0.5) for _ in range(2))
    fake = G([zs[0], labels], training=True)
    tac, adc = (levers.get("class_loss") == name for name in ("tac", "adc"))
    both = lambda head: tf.concat(head, axis=-1)  # adc: [real-class logits, generated-class logits]
    with tf.GradientTape() as tape:
        real_source, *real_head = D(real, training=True)
        fake_source, *fake_head = D(fake, training=True)
        if adc:
            d_class = ce(labels, both(real_head)) + ce(labels + gan.num_classes, both(fake_head))
        else:
            d_class = (ce(labels, real_head[0]) + fake_weight * ce(labels, fake_head[0])
                       + (ce(labels, fake_head[1]) if tac else 0.0))
        d_loss = d_source(real_source, fake_source) + d_weight * d_class
    apply(d_opt, tape, d_loss, D)
    with tf.GradientTape() as tape:
        fake = G([zs[1], labels], training=True)
        fake_source, *fake_head = D(fake, training=True)
        if adc:
            g_class = ce(labels, both(fake_head)) - ce(labels + gan.num_classes, both(fake_head))
        else:
            per_image = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, fake_head[0])
            capped = tf.reduce_mean(tf.nn.relu(per_image - np.log(1 / levers.get("g_class_confidence", 1.0))))
            if "g_class_confidence" in levers:  # the cap bites on some images of the batch, not on all
                assert 0 < np.sum(per_image.numpy() < np.log(1 / levers["g_class_confidence"])) < len(labels)
            g_class = capped - (ce(labels, fake_head[1]) if tac else 0.0)
        g_loss = g_source(fake_source) + g_weight * g_class
        if "mode_seeking_weight" in levers:
            ratio = tf.reduce_mean(tf.abs(fake - G([zs[2], labels], training=True))) / tf.reduce_mean(
                tf.abs(zs[1] - zs[2]))
            g_loss += levers["mode_seeking_weight"] / (ratio + 1e-5)
    g_grads = apply(g_opt, tape, g_loss, G)
    assert_same_weights(gan, ref, initial, adam_first_step=("generator", g_grads, 2e-4))


@pytest.mark.parametrize("gamma", [0.0, 10.0])
def test_mlp_step_is_algorithm_1_of_goodfellow_et_al(gamma):
    """One D step on -log D(x) - log(1 - D(G(z))) (BCE on logits, Adam(d_lr, 0.5); its cpu_fast rate 4e-4), plus
    with --r1_weight=gamma Mescheder et al.'s gamma/2 * E||grad_x D(x)||^2, then one G step on the non-saturating
    -log D(G(z)) with fresh z and Adam(g_lr, 0.5)."""
    gan, ref = twins("mlp", d_lr=4e-4, r1_weight=gamma)
    initial, (real, labels), zs = snapshot(gan), batch(BATCH, model="mlp"), latent(2)
    replay(gan, zs)
    gan.train_step((real, labels))

    G, D = ref.generator, ref.discriminator
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt, d_opt = keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(4e-4, 0.5)
    fake = G(zs[0], training=True)
    with tf.GradientTape() as tape:
        with tf.GradientTape() as input_tape:
            input_tape.watch(real)
            real_logits = D(real, training=True)
            summed = tf.reduce_sum(real_logits)
        input_grads = input_tape.gradient(summed, real)
        fake_logits = D(fake, training=True)
        d_loss = (bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
                  + gamma / 2 * tf.reduce_mean(tf.reduce_sum(input_grads ** 2, axis=[1, 2, 3])))
    apply(d_opt, tape, d_loss, D)
    with tf.GradientTape() as tape:
        fake_logits = D(G(zs[1], training=True), training=True)
        g_loss = bce(tf.ones_like(fake_logits), fake_logits)
    apply(g_opt, tape, g_loss, G)
    assert_same_weights(gan, ref, initial)


def test_sagan_step_is_hinge_with_ttur():
    """Zhang et al.: D on the hinge loss E[relu(1 - D(x, y))] + E[relu(1 + D(G(z, y), y))] with Adam(4e-4, 0, 0.9),
    then G on -E[D(G(z, y), y)] with Adam(1e-4, 0, 0.9); spectral-norm vectors advance on every training call."""
    gan, ref = twins("sagan")
    initial, (real, labels), zs = snapshot(gan), batch(BATCH, model="sagan"), latent(2)
    replay(gan, zs)
    gan.train_step((real, labels))

    G, D = ref.generator, ref.discriminator
    g_opt, d_opt = keras.optimizers.Adam(1e-4, 0.0, 0.9), keras.optimizers.Adam(4e-4, 0.0, 0.9)
    fake = G([zs[0], labels], training=True)
    with tf.GradientTape() as tape:
        d_loss = (tf.reduce_mean(tf.nn.relu(1.0 - D([real, labels], training=True)))
                  + tf.reduce_mean(tf.nn.relu(1.0 + D([fake, labels], training=True))))
    apply(d_opt, tape, d_loss, D)
    with tf.GradientTape() as tape:
        g_loss = -tf.reduce_mean(D([G([zs[1], labels], training=True), labels], training=True))
    apply(g_opt, tape, g_loss, G)
    # A conv bias followed by (conditional) batch norm has a gradient of 0 up to float noise, and Adam's first
    # step turns noise g into lr * g / (|g| + 1e-7): such biases differ by up to a tenth of a step (lr 1e-4).
    assert_same_weights(gan, ref, initial, atol=1e-5)


def test_a_reference_that_differs_is_caught():
    """The comparison can fail: a hand-written WGAN step without the clipping ends elsewhere."""
    gan, ref = twins("wgan", n_critic=1, clip_value=0.01)
    initial, (real, labels), zs = snapshot(gan), batch(BATCH, model="wgan"), latent(2)
    replay(gan, zs)
    gan.train_step((real, labels))
    G, D = ref.generator, ref.discriminator
    g_opt, d_opt = keras.optimizers.RMSprop(5e-5), keras.optimizers.RMSprop(5e-5)
    fake = G(zs[0], training=True)
    with tf.GradientTape() as tape:
        d_loss = tf.reduce_mean(D(fake, training=True)) - tf.reduce_mean(D(real, training=True))
    apply(d_opt, tape, d_loss, D)  # no clipping
    with tf.GradientTape() as tape:
        g_loss = -tf.reduce_mean(D(G(zs[1], training=True), training=True))
    apply(g_opt, tape, g_loss, G)
    with pytest.raises(AssertionError):
        assert_same_weights(gan, ref, initial)

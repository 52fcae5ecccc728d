"""Every registered variant: train steps change both networks with finite losses; generate honours labels."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_config
from tfgan_cifar.lib import data
from tfgan_cifar import gans
from tfgan_cifar.lib.errors import UsageError

pytestmark = pytest.mark.xdist_group("gans")  # one test worker: each variant is built and stepped once (two_steps)


def batch(n=16, size=32, model="dcgan"):
    """A training batch for `model`: (images, labels), plus the sketches for sketch2img."""
    import dataclasses

    d = data.make_shapes(n, seed=0)
    d = dataclasses.replace(d, images=data.resize_uint8(d.images, size))
    variant = gans.VARIANTS[model]
    d = variant.prepare_data(d, "train", tiny_config(model))
    return next(iter(data.make_pipeline(d, n, image_size=size, shuffle=False)))


def main_input(gan, n, rng=None):
    """What the generator maps from: latent vectors, or sketches for sketch2img."""
    rng = rng or np.random.default_rng(0)
    if "sketch" in gan.INPUTS:
        return (rng.random((n, gan.image_size, gan.image_size, 1)) > 0.8).astype(np.float32)
    return rng.standard_normal((n, gan.nz)).astype(np.float32)


def weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def changed(before, model):
    return any(not np.array_equal(a, b.numpy()) for a, b in zip(before, model.trainable_variables))


@pytest.fixture(scope="module")
def two_steps():
    """stepped(model) -> (gan, the first step's logs, the second's, G's and D's weights before): each variant
    built and trained two steps once for the tests that read it."""
    done = {}

    def stepped(model):
        if model not in done:
            gan = gans.build(tiny_config(model))
            gan.compile()
            g0, d0 = weights(gan.generator), weights(gan.discriminator)
            first = gan.train_step(batch(model=model))
            done[model] = gan, first, gan.train_step(batch(model=model)), g0, d0
        return done[model]
    return stepped


@pytest.mark.parametrize("model", sorted(gans.VARIANTS))
def test_two_train_steps_change_both_networks(model, two_steps):
    gan, first, logs, g0, d0 = two_steps(model)
    assert changed(g0, gan.generator) and changed(d0, gan.discriminator)
    for name, value in logs.items():
        assert np.isfinite(float(value)), name
    for name in gan.METRICS:  # the running mean of two steps, and each step's own value beside it
        step = name + "@step"
        assert float(logs[name]) == pytest.approx((float(first[step]) + float(logs[step])) / 2, rel=1e-5), name
    if gan.conditional:  # after training, changing only the label changes the image
        z = main_input(gan, 4)
        out = gan.generate(z, tf.constant([0, 1, 2, 3])).numpy()
        other = gan.generate(z, tf.constant([5, 6, 7, 8])).numpy()
        # Relative: outputs can be tiny early on. An ignored label gives exactly equal outputs.
        assert np.abs(out - other).max() > 1e-3 * np.abs(out).max() > 0


@pytest.mark.parametrize("model", sorted(gans.VARIANTS))
@pytest.mark.parametrize("size", [32, 64])
def test_generated_images_follow_their_inputs(model, size):
    gan = gans.build(tiny_config(model, image_size=size))
    z = main_input(gan, 4)
    labels = tf.constant([0, 1, 2, 3]) if gan.conditional else None
    out = gan.generate(z, labels).numpy()
    assert out.shape == (4, size, size, 3)
    np.testing.assert_array_equal(gan.generate(z, labels).numpy(), out)  # inference is deterministic
    # Inference is deterministic, so an input the generator ignored would give bit-identical images.
    other = main_input(gan, 4, np.random.default_rng(1))
    assert not np.array_equal(gan.generate(other, labels).numpy(), out)  # the main input matters
    if gan.conditional:  # and so does the label, once trained (conditional batch norm starts the same for all)
        gan.compile()
        data = batch(16, size, model)
        gan.train_step(data)
        seen = data[1].numpy()
        first, second = seen[0], next(c for c in seen if c != seen[0])
        a, b = (gan.generate(z, tf.fill([4], int(c))).numpy() for c in (first, second))
        assert not np.array_equal(a, b)
    assert gan.discriminator.output_shape in ((None, 1), [(None, 1), (None, 10)])


def norm_layers(model, kind):
    return [l for l in model.layers if isinstance(l, kind)]


def test_critics_never_use_batch_norm_and_dcgan_does():
    import keras
    assert norm_layers(gans.build(tiny_config("dcgan")).discriminator, keras.layers.BatchNormalization)
    for model in ("wgan", "wgan_gp", "cgan", "sagan"):
        assert not norm_layers(gans.build(tiny_config(model)).discriminator, keras.layers.BatchNormalization), model
    layer = norm_layers(gans.build(tiny_config("wgan_gp", norm="layer")).discriminator, keras.layers.GroupNormalization)
    assert [l.groups for l in layer] == [1, 1]  # one group: normalise over H, W and C per sample
    instance = norm_layers(gans.build(tiny_config("wgan_gp", norm="instance")).discriminator,
                           keras.layers.GroupNormalization)
    assert [l.groups for l in instance] == [l.input.shape[-1] for l in instance] == [16, 32]  # per channel


def test_dcgan_preset_is_the_published_one():
    c = tiny_config("dcgan")
    assert (c.g_lr, c.d_lr, c.beta1, c.nz, c.batch_size) == (2e-4, 2e-4, 0.5, 100, 16)  # batch set by tiny_config
    default = gans.make_config("dcgan")
    assert default.batch_size == 64 and default.width == 64


def test_mlp_width_sets_its_hidden_layers():
    def units(model):
        return [l.units for l in model.layers if isinstance(l, keras.layers.Dense)]
    assert gans.make_config("mlp").width == 256  # the baseline's 256-512-1024
    gan = gans.build(tiny_config("mlp", width=12))
    assert units(gan.generator) == [12, 24, 48, 32 * 32 * 3]
    assert units(gan.discriminator) == [48, 24, 12, 1]


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_wgan_clips_every_critic_weight(norm):
    gan = gans.build(tiny_config("wgan", clip_value=0.01, norm=norm))
    gan.compile()
    assert max(np.abs(v.numpy()).max() for v in gan.discriminator.trainable_variables) > 0.01  # init exceeds c
    scales = [v for v in gan.discriminator.trainable_variables if "gamma" in v.path]
    assert len(scales) == (2 if norm == "batch" else 0)  # batch norm's scales (init 1) are clipped too
    gan.train_step(batch())
    for v in gan.discriminator.trainable_variables:
        assert np.abs(v.numpy()).max() <= 0.01 + 1e-7, v.name


def test_acgan_class_head_learns_a_fixed_batch():
    gan = gans.build(tiny_config("acgan", d_lr=1e-3))
    gan.compile()
    images, labels = batch(32)
    # Batch statistics: after a few steps the BN moving averages still lag far behind.
    logits = lambda: gan.discriminator(images, training=True)[1].numpy()
    accuracy = lambda: float(np.mean(np.argmax(logits(), -1) == labels.numpy()))
    before = accuracy()
    for _ in range(15):
        gan.train_step((images, labels))
    assert accuracy() >= before + 0.3, (before, accuracy())


def test_acgan_with_reacgan_classifier_learns_a_fixed_batch():
    """--class_loss=d2dce: D's class is its nearest proxy; D2D-CE on real images teaches it the batch."""
    gan = gans.build(tiny_config("acgan", d_lr=1e-3, class_loss="d2dce", class_fake_weight=0.0))
    gan.compile()
    images, labels = batch(32)
    score, cosines, embedding = gan.discriminator(images, training=True)
    assert cosines.shape == (32, 10) and np.abs(cosines.numpy()).max() <= 1.0 + 1e-5
    accuracy = lambda: float(np.mean(np.argmax(gan.discriminator(images, training=True)[1].numpy(), -1)
                                     == labels.numpy()))
    before = accuracy()
    for _ in range(15):
        gan.train_step((images, labels))
    assert accuracy() >= before + 0.3, (before, accuracy())


def test_acgan_conditioning_multiplies_concatenates_or_normalises_by_class():
    """multiply (the seed recipe): a label embedding of zeros leaves nothing of z, so every z draws the same
    image; concat keeps z beside the embedding, so the images still differ. Checked on the latent itself."""
    z, labels = np.random.default_rng(0).normal(size=(4, 100)).astype(np.float32), np.zeros(4, np.int32)
    for how, expected in (("multiply", lambda e: z * e[labels]),
                          ("concat", lambda e: np.concatenate([z, e[labels]], 1))):
        gan = gans.build(tiny_config("acgan", conditioning=how))
        table = gan.generator.get_layer("label_embedding")
        embedding = table.get_weights()[0]
        dense = next(layer for layer in gan.generator.layers if isinstance(layer, keras.layers.Dense))
        into_dense = keras.Model(gan.generator.inputs, dense.input)
        np.testing.assert_allclose(into_dense([z, labels]).numpy(), expected(embedding), rtol=1e-6)
        table.set_weights([np.zeros_like(embedding)])
        out = gan.generate(z, labels).numpy()
        assert (np.abs(out - out[:1]).max() == 0) == (how == "multiply")
    # cbn: the dense layer sees z alone; the label scales and shifts every batch norm, per class.
    gan = gans.build(tiny_config("acgan", conditioning="cbn"))
    dense = next(layer for layer in gan.generator.layers if isinstance(layer, keras.layers.Dense))
    np.testing.assert_allclose(keras.Model(gan.generator.inputs, dense.input)([z, labels]).numpy(), z)
    cbn = [layer for layer in gan.generator.layers if type(layer).__name__ == "ConditionalBatchNorm"]
    assert len(cbn) == len([layer for layer in gan.generator.layers if isinstance(layer, keras.layers.ReLU)])
    same_z = np.repeat(z[:1], 2, axis=0)
    before = gan.generate(same_z, np.array([0, 1], np.int32)).numpy()
    assert np.abs(before[0] - before[1]).max() == 0  # scales 1 and shifts 0 for every class at the start
    for layer in cbn:  # every class but 0 shifted by 1 after each normalisation
        layer.beta.embeddings.assign(np.array([[0.0]] + [[1.0]] * 9, np.float32) * np.ones(layer.beta.embeddings.shape))
    after = gan.generate(same_z, np.array([0, 1], np.int32)).numpy()
    assert np.abs(after[0] - before[0]).max() == 0 and np.abs(after[1] - after[0]).max() > 0.05
    with pytest.raises(UsageError, match="conditioning=projection is not valid for acgan"):
        tiny_config("acgan", conditioning="projection")


def test_acgan_adc_refuses_a_weight_on_generated_images_it_would_ignore():
    """ADC-GAN's classifier has classes of its own for generated images, so --class_fake_weight has no meaning."""
    assert tiny_config("acgan", class_loss="adc").class_fake_weight == 0.0
    with pytest.raises(UsageError, match="class_loss=adc trains its classifier on generated images by definition"):
        tiny_config("acgan", class_loss="adc", class_fake_weight=1.0)


@pytest.mark.parametrize("model", sorted(gans.VARIANTS))
def test_export_load_sample_round_trip(model, two_steps, tmp_path):
    from tfgan_cifar.lib import savedmodel, images
    gan = two_steps(model)[0]
    meta = savedmodel.metadata(gan, [str(i) for i in range(10)], 0, 1)
    loaded, meta = savedmodel.load(savedmodel.save_generator(gan, str(tmp_path / model), meta))
    z = main_input(gan, 6)
    labels = np.array([0, 1, 2, 3, 4, 5], np.int32) if gan.conditional else None
    assert meta["conditional"] == gan.conditional
    assert meta["inputs"] == list(gan.INPUTS)
    inputs = dict(zip(gan.INPUTS, (z, labels)))
    exported = savedmodel.generate(loaded, inputs).astype(int)
    live = images.to_uint8(gan.generate(z, labels).numpy()).astype(int)
    # The exported graph and the live model sum in different orders (Grappler, oneDNN fusions): a value within
    # float rounding of a half level may round the other way (seen: 1 of 18,432 values, once in many runs).
    # A wrong label or z moves more: 0.8 % (cgan) to 94 % (mlp) of the values of these barely trained networks.
    assert np.abs(exported - live).max() <= 1 and np.mean(exported != live) < 1e-3


def test_every_variant_is_registered_and_in_the_variant_table():
    assert {"mlp", "dcgan", "wgan", "wgan_gp", "acgan", "cgan", "sagan", "sketch2img"} <= set(gans.VARIANTS)
    table = gans.markdown_table().splitlines()
    assert [row.split("|")[1].strip(" `") for row in table[2:]] == sorted(gans.VARIANTS)


@pytest.mark.parametrize("model", ["dcgan", "wgan_gp", "acgan"])
def test_a_nan_batch_is_never_applied(model):
    """The discriminator's loss sees the poisoned real batch: its update must be skipped, weights and
    optimizer slots untouched. (The generator's loss does not see real images, so its update may go on.)"""
    gan = gans.build(tiny_config(model))
    gan.compile()
    images, labels = batch()
    gan.train_step((images, labels))
    weights = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
    slots = [v.numpy().copy() for v in gan.d_optimizer.variables]
    poisoned = tf.tensor_scatter_nd_update(images, [[0, 0, 0, 0]], [np.nan])
    gan.train_step((poisoned, labels))
    assert int(gan.nonfinite_updates) >= 1
    for before, variable in zip(weights, gan.discriminator.trainable_variables):
        np.testing.assert_array_equal(before, variable.numpy())
    for before, variable in zip(slots, gan.d_optimizer.variables):
        np.testing.assert_array_equal(before, variable.numpy())
    assert all(np.all(np.isfinite(v.numpy())) for v in gan.generator.trainable_variables)


def test_initialisation_is_seeded_and_independent_per_layer():
    import keras

    def kernels():
        keras.utils.set_random_seed(7)
        gan = gans.build(tiny_config("dcgan"))
        return [v.numpy().ravel() for v in gan.generator.weights + gan.discriminator.weights if "kernel" in v.path]

    first, second = kernels(), kernels()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)  # the seed fixes the initial weights
    heads = [k[:16] for k in first]
    for i in range(len(heads)):
        for j in range(i):  # a shared initializer instance would give every layer the same draws
            assert not np.allclose(heads[i], heads[j]), (i, j)
    assert all(abs(np.std(k) - 0.02) < 0.005 for k in first if k.size > 1000)  # N(0, 0.02)


def test_simultaneous_step_matches_a_plain_tape_step_and_differs_from_alternating():
    """--simultaneous: one G pass and one D pass on the fakes serve both losses, G's gradient taken against D
    before its update -- checked against the tutorial-style two-tape step written out with Keras alone."""
    import keras

    def clone(config):
        gan = gans.build(config)
        gan.compile()
        return gan

    real = batch()[0]
    z = tf.random.stateless_normal([16, 100], seed=[1, 2])
    sim, alt, ref = (clone(tiny_config("dcgan", simultaneous=s)) for s in (True, False, True))
    for gan in (alt, ref):
        for a, b in zip(gan.generator.variables + gan.discriminator.variables,
                        sim.generator.variables + sim.discriminator.variables):
            a.assign(b)
    for gan in (sim, alt):
        gan.sample_z = lambda n: z
        gan.train_step((real, tf.zeros([16], tf.int32)))

    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt, d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)
    with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
        fake = ref.generator(z, training=True)
        real_logits, fake_logits = ref.discriminator(real, training=True), ref.discriminator(fake, training=True)
        d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
        g_loss = bce(tf.ones_like(fake_logits), fake_logits)
    d_grads = d_tape.gradient(d_loss, ref.discriminator.trainable_variables)
    g_grads = g_tape.gradient(g_loss, ref.generator.trainable_variables)
    d_opt.apply_gradients(zip(d_grads, ref.discriminator.trainable_variables))
    g_opt.apply_gradients(zip(g_grads, ref.generator.trainable_variables))
    for net in ("generator", "discriminator"):
        for a, b in zip(getattr(sim, net).trainable_variables, getattr(ref, net).trainable_variables):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=f"{net} {a.path}")
    # Alternating: G's gradient sees the updated D (and a second G pass), so G ends elsewhere.
    gap = max(np.abs(a.numpy() - b.numpy()).max()
              for a, b in zip(alt.generator.trainable_variables, sim.generator.trainable_variables))
    assert gap > 1e-6


def test_dcgan_spectral_norm_critic_replaces_batch_norm():
    from tfgan_cifar.lib.layers import SpectralNorm
    gan = gans.build(tiny_config("dcgan", norm="spectral", simultaneous=True))
    gan.compile()
    d = gan.discriminator
    wrapped = [l for l in d.layers if isinstance(l, SpectralNorm)]
    assert not norm_layers(d, keras.layers.BatchNormalization)
    assert [type(l.layer).__name__ for l in wrapped] == ["Conv2D", "Conv2D", "Conv2D", "Dense"]  # every weight layer
    raw = [l.kernel.numpy() for l in wrapped]
    logs = gan.train_step(batch())
    assert all(np.isfinite(float(v)) for v in logs.values())
    # The optimizer updates the raw kernels (W / sigma is computed in the forward pass, never stored)...
    for layer, before in zip(wrapped, raw):
        assert not np.allclose(layer.kernel.numpy(), before)
    # ...and the critic computes with W / sigma(W), whose largest singular value is ~1 after one iteration.
    kernel = wrapped[1].normalized_kernel().numpy()
    sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    assert 0.5 < sigma < 1.5
    from tfgan_cifar.lib.errors import UsageError
    with pytest.raises(UsageError, match="--norm=layer is not valid for dcgan"):
        tiny_config("dcgan", norm="layer")

"""The base `GAN` model: two networks, two optimizers, loss trackers, sampling and the serving function.

A variant subclasses it, builds its networks, and overrides `train_step` to wire its losses.
"""
import keras
import tensorflow as tf

from tfgan_cifar.errors import UsageError


class GAN(keras.Model):
    # Published defaults of this variant. Its keys are also the hyper-parameters it accepts.
    PRESET = dict(nz=100, width=64, g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999)
    conditional = False  # True: generate(z, labels) and the SavedModel takes a `label` input
    METRICS = ("d_loss", "g_loss")
    SUMMARY = ""  # one line for the README table: losses and architecture

    def __init__(self, config, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.nz = config.nz
        self.image_size = config.image_size
        self.num_classes = num_classes
        self.generator = self.build_generator()
        self.discriminator = self.build_discriminator()
        self.seed_generator = keras.random.SeedGenerator(config.seed)
        self.trackers = [keras.metrics.Mean(name=name) for name in self.METRICS]
        # Updates skipped because their loss or gradients were not finite (read by callbacks.NaNGuard).
        self.nonfinite_updates = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False,
                                                 name="nonfinite_updates")
        self.g_optimizer = self.d_optimizer = None

    # -- to override ----------------------------------------------------------------------------------
    def build_generator(self):
        raise NotImplementedError

    def build_discriminator(self):
        raise NotImplementedError

    @classmethod
    def validate_config(cls, config):
        """Variant-specific checks of a RunConfig; raise UsageError with one sentence."""

    def make_optimizers(self):
        c = self.config
        return (keras.optimizers.Adam(c.g_lr, beta_1=c.beta1, beta_2=c.beta2, name="g_adam"),
                keras.optimizers.Adam(c.d_lr, beta_1=c.beta1, beta_2=c.beta2, name="d_adam"))

    # -- shared machinery ------------------------------------------------------------------------------
    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        if g_optimizer is None or d_optimizer is None:
            g_optimizer, d_optimizer = self.make_optimizers()
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Build the slots now, not lazily in the first step: checkpoints can then restore them, and under
        # tf.distribute a lazy build inside the replica context fails (keras-team/keras#19246).
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return self.trackers

    def record(self, **values):
        """Update the loss trackers and return the running means (what train_step returns). Values with
        no tracker of their name are ignored, so a shared train_step can offer more than a variant logs."""
        for tracker in self.trackers:
            tracker.update_state(values[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.trackers}

    def step(self, optimizer, tape, loss, network):
        """One optimizer update of `network` from `loss` -- skipped (and counted) when the loss or any
        gradient is NaN/Inf, so a bad batch can never write non-finite weights or optimizer slots."""
        variables = network.trainable_variables
        grads = tape.gradient(loss, variables)
        checks = [tf.math.is_finite(loss)] + [
            tf.reduce_all(tf.math.is_finite(g.values if isinstance(g, tf.IndexedSlices) else g))
            for g in grads if g is not None]
        finite = tf.reduce_all(tf.stack(checks))

        def apply():
            optimizer.apply_gradients(zip(grads, variables))
            return tf.constant(True)

        def skip():
            self.nonfinite_updates.assign_add(1)
            return tf.constant(False)

        return tf.cond(finite, apply, skip)

    def sample_z(self, n):
        return keras.random.normal((n, self.nz), seed=self.seed_generator)

    def condition(self, labels):
        """The labels a conditional model generates/discriminates with; None for unconditional ones."""
        return labels if self.conditional else None

    def discriminate(self, images, labels=None, training=True):
        """Discriminator output for images (conditional critics override this to take the labels)."""
        return self.discriminator(images, training=training)

    @classmethod
    def check_choice(cls, config, name, choices):
        value = getattr(config, name)
        if value is not None and value not in choices:
            raise UsageError(f"--{name}={value} is not valid for {config.model}; choose one of: {', '.join(choices)}")

    def generator_inputs(self, z, labels=None):
        z = tf.convert_to_tensor(z, tf.float32)
        if self.conditional:
            if labels is None:
                raise UsageError(f"{self.config.model} is conditional: give labels")
            return [z, tf.cast(labels, tf.int32)]
        if labels is not None:
            raise UsageError(f"{self.config.model} is unconditional: labels do not apply")
        return z

    def generate(self, z, labels=None, training=False):
        """Images in [-1, 1] for latent vectors z (and class labels for conditional models)."""
        return self.generator(self.generator_inputs(z, labels), training=training)

    def sample_images(self, n, seed=0, classes=None, batch_size=500):
        """n uint8 images from fresh z (seeded); conditional models cycle through `classes` (default all)."""
        import numpy as np

        from tfgan_cifar.images import to_uint8
        rng = np.random.default_rng(seed)
        labels = None
        if self.conditional:
            classes = np.asarray(classes if classes is not None else range(self.num_classes), np.int32)
            labels = classes[np.arange(n) % len(classes)]
        out = []
        for i in range(0, n, batch_size):
            z = rng.standard_normal((min(batch_size, n - i), self.nz)).astype(np.float32)
            out.append(to_uint8(self.generate(z, None if labels is None else labels[i:i + batch_size]).numpy()))
        return np.concatenate(out), labels

    def serving_function(self):
        """A tf.function for the SavedModel's serving_default: named inputs -> {'images': uint8}."""
        z_spec = tf.TensorSpec([None, self.nz], tf.float32, name="z")

        def images(x):
            return tf.cast(tf.clip_by_value(tf.round((x + 1.0) * 127.5), 0.0, 255.0), tf.uint8)

        if self.conditional:
            @tf.function(input_signature=[z_spec, tf.TensorSpec([None], tf.int32, name="label")])
            def serve(z, label):
                return {"images": images(self.generator([z, label], training=False))}
        else:
            @tf.function(input_signature=[z_spec])
            def serve(z):
                return {"images": images(self.generator(z, training=False))}
        return serve

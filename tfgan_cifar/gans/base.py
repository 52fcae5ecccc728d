"""The base `GAN` model: two networks, two optimizers, loss trackers and the guarded update step; sampling
(gans/sampling.py) and the serving function (gans/exporting.py) are its mixins, read apart.

A variant subclasses it, builds its networks, and overrides `train_step` to wire its losses.
"""
import keras
import tensorflow as tf

from tfgan_cifar.gans.exporting import Exporting
from tfgan_cifar.gans.sampling import Sampling
from tfgan_cifar.lib import augment
from tfgan_cifar.lib.callbacks import STEP_SUFFIX
from tfgan_cifar.lib.errors import UsageError


# The generator inputs most variants take (GAN.INPUTS): (dtype, gan -> shape).
LATENT = (tf.float32, lambda gan: [None, gan.nz])  # "z": latent vectors
LABEL = (tf.int32, lambda gan: [None])  # "label": class ids


def repeat(times, body, state):
    """state = body(*state), `times` times in a row. On one device a graph loop, traced once where a Python loop
    built the body `times` times (Keras does not let AutoGraph convert train_step); under a tf.distribute
    strategy a Python loop, since the body's synchronisation points (batch-norm statistics, merge_call) cannot
    sit inside graph control flow there."""
    if tf.distribute.has_strategy():
        for _ in range(times):
            state = body(*state)
        return state
    return tf.while_loop(lambda *_: True, body, state, maximum_iterations=times, parallel_iterations=1)


def apply_if(condition, optimizer, grads_and_vars):
    """optimizer.apply_gradients when `condition` (the same on every replica) holds. Under a strategy that
    needs merge_call (MirroredStrategy), the cond must run in cross-replica context, as in Keras's
    LossScaleOptimizer: a cond around apply_gradients inside the replica function is not supported."""
    def apply(fn, *args):
        fn(*args)
        return tf.constant(True)

    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(condition, lambda: apply(optimizer.apply_gradients, grads_and_vars), lambda: tf.constant(False))
        return

    def cross_replica(distribution, grads_and_vars, condition):
        first = distribution.experimental_local_results(condition)[0]
        tf.cond(first, lambda: apply(distribution.extended.call_for_each_replica, optimizer.apply_gradients,
                                     (grads_and_vars,)), lambda: tf.constant(False))

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(grads_and_vars, condition))


class GAN(Sampling, Exporting, keras.Model):
    # Published defaults of this variant. Its keys are also the hyper-parameters it accepts.
    PRESET = dict(nz=100, width=64, g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999)
    # What the code did before a hyper-parameter existed, where its default has moved since (a run saved then
    # holds None for it and is resumed/exported/recorded with this value; config.fill_predated).
    PREDATED = {}
    # What the generator takes, in order, by name: {name: (dtype, gan -> shape)}; the export's serving_default
    # takes the same (input_signature). "z": latent vectors [N, nz]; "label": class ids [N] (a conditional
    # variant). A variant with another input (sketch2img's "sketch") declares it here and makes it in the class
    # methods below (prepare_data, pipeline_options, sampling_inputs, evaluation_inputs, sample_picture), which
    # train, sample and evaluate ask.
    INPUTS = {"z": LATENT}
    conditional = False  # set from INPUTS: "label" in INPUTS
    discriminator_takes_labels = False  # True: the discriminator's inputs are [images, labels]
    METRICS = ("d_loss", "g_loss")
    SUMMARY = ""  # one line for the README table: losses and architecture

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.conditional = "label" in cls.INPUTS

    def __init__(self, config, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.nz = config.nz or 0  # 0: no latent vector (sketch2img)
        self.image_size = config.image_size
        self.num_classes = num_classes
        self.generator = self.build_generator()
        self.discriminator = self.build_discriminator()
        # --ema: a second generator holding the average of the weights (kept by the G optimizer, see sampler()).
        self.ema_generator = self.build_generator() if config.ema else None
        if config.sync_bn:  # batch statistics over the global batch under tf.distribute, not per replica
            for network in (self.generator, self.discriminator, self.ema_generator):
                for layer in (network._flatten_layers() if network is not None else ()):
                    if isinstance(layer, keras.layers.BatchNormalization):
                        layer.synchronized = True
        self.augment_policy = augment.parse_policy(config.diffaugment)
        self.seed_generator = keras.random.SeedGenerator(config.seed)
        self.trackers = [keras.metrics.Mean(name=name) for name in self.METRICS]
        # Updates skipped because their loss or gradients were not finite (read by callbacks.NaNGuard).
        self.nonfinite_updates = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False,
                                                 aggregation="only_first_replica", name="nonfinite_updates")
        self.g_optimizer = self.d_optimizer = None
        self.built = True  # the networks are built; a GAN has no call() for Keras to build it with under tf.distribute

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

    # -- what else the training data carries (class methods) ---------------------------------------------
    @classmethod
    def prepare_data(cls, image_set, split, config):
        """The image set with whatever else per image the variant trains on (data.ImageSet.extra)."""
        return image_set

    @classmethod
    def pipeline_options(cls, config):
        """Keyword arguments of data.make_pipeline the variant needs beyond the batch size and image size."""
        return {}

    # -- shared machinery ------------------------------------------------------------------------------
    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        if g_optimizer is None or d_optimizer is None:
            g_optimizer, d_optimizer = self.make_optimizers()
        if self.config.ema:  # Keras's optimizer keeps the moving average of the weights it updates
            g_optimizer.use_ema, g_optimizer.ema_momentum = True, self.config.ema
        if self.config.precision == "mixed_float16":  # float16 needs loss scaling; bfloat16 has float32's range
            g_optimizer, d_optimizer = (keras.optimizers.LossScaleOptimizer(o) for o in (g_optimizer, d_optimizer))
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Build the slots now, not lazily in the first step: checkpoints can then restore them, and under
        # tf.distribute a lazy build inside the replica context fails (keras-team/keras#19246).
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return self.trackers

    def record(self, **values):
        """Update the loss trackers and return what train_step returns: the running means since the epoch
        began (the progress bar's and the epoch record's figures) and, under `<name>` + STEP_SUFFIX, this
        step's own values (callbacks.TrainingLog takes those out of the logs for the per-step curves). Values
        with no tracker of their name are ignored, so a shared train_step can offer more than a variant logs."""
        logs = {}
        for tracker in self.trackers:
            tracker.update_state(values[tracker.name])
            logs[tracker.name] = tracker.result()
            logs[tracker.name + STEP_SUFFIX] = tf.cast(values[tracker.name], tf.float32)
        return logs

    def step(self, optimizer, tape, loss, network):
        """One optimizer update of `network` from `loss` -- skipped (and counted) when the loss or any
        gradient is NaN/Inf on any replica, so a bad batch never writes non-finite weights or slots.

        Under tf.distribute each replica's loss is the mean over its share of the batch and the optimizer
        sums gradients over replicas, so gradients are scaled by 1/replicas: the update then follows the
        mean over the global batch (as tf.nn.compute_average_loss would). Under mixed_float16 the
        LossScaleOptimizer's scale is applied here and undone by the optimizer, which also skips (and
        lowers the scale on) overflowing steps by itself."""
        variables = network.trainable_variables
        loss = tf.cast(loss, tf.float32)
        scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        factor = tf.constant(1.0 / tf.distribute.get_strategy().num_replicas_in_sync, tf.float32)
        if scaled:
            factor = factor * optimizer.dynamic_scale
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                 for g in tape.gradient(loss, variables, output_gradients=factor)]
        checks = [tf.math.is_finite(loss)]
        if not scaled:  # float16 overflow is the loss scaler's business, not a bad batch
            checks += [tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None]
        finite = tf.reduce_all(tf.stack(checks))
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:  # every replica takes the same decision
            finite = context.all_reduce("SUM", 1.0 - tf.cast(finite, tf.float32)) < 0.5
        self.nonfinite_updates.assign_add(1 - tf.cast(finite, tf.int64))
        if scaled:
            optimizer.apply_gradients(zip(grads, variables))
        else:
            apply_if(finite, optimizer, list(zip(grads, variables)))
        return finite

    def draw(self, random_fn, shape):
        """Random values for this replica's share of the batch (shape[0] = local batch). Drawn for the global
        batch from the checkpointed seed generator and sliced by replica id, so replicas draw different
        values and a distributed step equals the single-device step on the same global batch."""
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        if replicas == 1:
            return random_fn(shape, seed=self.seed_generator)
        n = shape[0]
        values = random_fn([n * replicas, *shape[1:]], seed=self.seed_generator)
        start = tf.cast(context.replica_id_in_sync_group, tf.int32) * n
        return values[start:start + n]

    def sample_z(self, n):
        return self.draw(keras.random.normal, [n, self.nz])

    def condition(self, labels):
        """The labels a conditional model generates/discriminates with; None for unconditional ones."""
        return labels if self.conditional else None

    def discriminate(self, images, labels=None, training=True):
        """Discriminator output for images (and labels, for discriminators that take them); with
        --diffaugment every image is augmented first, real, generated and interpolated alike."""
        if self.augment_policy and training:
            uniform = lambda shape: self.draw(keras.random.uniform, shape)
            images = augment.diff_augment(images, self.augment_policy, uniform)
        inputs = [images, labels] if self.discriminator_takes_labels else images
        return self.discriminator(inputs, training=training)

    @classmethod
    def check_choice(cls, config, name, choices):
        value = getattr(config, name)
        if value is not None and value not in choices:
            raise UsageError(f"--{name}={value} is not valid for {config.model}; choose one of: {', '.join(choices)}")


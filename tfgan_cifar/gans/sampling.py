"""What a GAN samples with: the generator's inputs and the sampler (the EMA copy with --ema), batches of uint8
images, the per-epoch grid, and the inputs an export is sampled and evaluated with (class methods: the export's
metadata is enough, no network is built). A mixin of gans/base.py's GAN, read apart from training and export."""
import keras
import numpy as np
import tensorflow as tf

from tfgan_cifar.lib import savedmodel
from tfgan_cifar.lib.errors import UsageError
from tfgan_cifar.lib.images import grid, to_uint8
from tfgan_cifar.lib.latent import latent_vectors

RECALIBRATION_BATCHES = 20  # batches of 64 that re-estimate an EMA generator's batch-norm statistics


class Sampling:
    # -- the inputs of an export's samples (make sample, make eval) ---------------------------------------------
    @classmethod
    def sampling_inputs(cls, meta, n, seed=0, labels="", source="", per_source=1):
        """The named serving inputs of `n` samples (make sample): latent vectors from `seed`, and for conditional
        models the classes given by name or id in `labels` (default: every class in blocks). `source` is a
        file or folder of a variant's own input (sketch2img's --sketch), `per_source` the images drawn from each;
        latent-vector variants refuse both."""
        if source or per_source != 1:
            raise UsageError(f"--sketch and --per_sketch apply only to models that generate from sketches; "
                             f"{meta['model']} samples from latent vectors")
        inputs = {"z": latent_vectors(n, meta["nz"], seed)}
        label = savedmodel.parse_labels(labels, n, meta)  # refuses --labels for unconditional models
        return inputs if label is None else dict(inputs, label=label)

    @classmethod
    def evaluation_inputs(cls, meta, held_out, n, seed=0):
        """(named serving inputs of `n` samples to score, their labels or None, the real uint8 image each sample
        should reproduce or None). Conditional models cycle through the model's classes."""
        inputs = {"z": latent_vectors(n, meta["nz"], seed)}
        if not meta["conditional"]:
            return inputs, None, None
        chosen = np.asarray(meta.get("classes") or range(meta["num_classes"]), np.int32)
        labels = chosen[np.arange(n) % len(chosen)]
        return dict(inputs, label=labels), labels, None

    @classmethod
    def evaluation_extras(cls, meta, inputs, fake, held_out):
        """({metric: value} of the samples, {metric: value} of the held-out real images): what a variant's own
        input asks of its samples beyond the shared metrics (sketch2img: do they follow their sketches)."""
        return {}, {}

    @classmethod
    def sample_picture(cls, inputs, images, rows=None, per_source=1):
        """(uint8 tiles, rows) of the PNG grid `sample` writes of `images` generated from `inputs`."""
        return images, rows

    # -- the generator's inputs and the sampler ------------------------------------------------------------
    def generator_inputs(self, z, labels=None):
        z = tf.convert_to_tensor(z, tf.float32)
        if self.conditional:
            if labels is None:
                raise UsageError(f"{self.config.model} is conditional: give labels")
            return [z, tf.cast(labels, tf.int32)]
        if labels is not None:
            raise UsageError(f"{self.config.model} is unconditional: labels do not apply")
        return z

    def generate(self, *inputs, training=False, generator=None):
        """Images in [-1, 1] for the generator's inputs in INPUTS order (z, and class labels for conditional
        models), from the trained generator or the one given (e.g. sampler())."""
        return (generator or self.generator)(self.generator_inputs(*inputs), training=training)

    def sampler(self):
        """The generator to sample from: with --ema the averaged copy (brought up to date from the G
        optimizer's moving averages; call eagerly, outside tf.function), else the trained generator."""
        optimizer = getattr(self.g_optimizer, "inner_optimizer", self.g_optimizer)
        if self.ema_generator is None or int(optimizer.iterations.numpy()) == 0:
            return self.generator
        # The optimizer's averages follow its trainable-variable order, which is the generator's.
        for target, average in zip(self.ema_generator.trainable_variables, optimizer._model_variables_moving_average):
            target.assign(average)
        for target, value in zip(self.ema_generator.non_trainable_variables, self.generator.non_trainable_variables):
            target.assign(value)  # batch-norm statistics: the trained generator's, as a start
        self.recalibrate_batch_norm(self.ema_generator)
        return self.ema_generator

    def recalibrate_batch_norm(self, generator, batches=RECALIBRATION_BATCHES, batch_size=64):
        """Re-estimate the batch-norm moving statistics of `generator` for its own weights. The trained
        generator's statistics describe the raw weights' activations, not the averaged weights' (BigGAN's
        "standing statistics" fix): without this, dcgan --ema=0.999 sampled far worse than no EMA."""
        norms = [l for l in generator.layers if isinstance(l, keras.layers.BatchNormalization)]
        inputs = self.recalibration_inputs(batch_size)
        if not norms or inputs is None:
            return
        momenta = [layer.momentum for layer in norms]
        for i in range(batches):
            for layer in norms:  # the first batch replaces the statistics, then a running mean over the batches
                layer.momentum = i / (i + 1)
            generator(inputs(i), training=True)
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum

    def recalibration_inputs(self, batch_size):
        """i -> generator inputs of the i-th batch used to re-estimate batch-norm statistics (fixed seeds,
        so sampling does not move the training random state); None when the variant cannot make them."""
        def inputs(i):
            z = tf.random.stateless_normal([batch_size, self.nz], seed=[7, i])
            labels = (tf.random.stateless_uniform([batch_size], [7, i], 0, self.num_classes, tf.int32)
                      if self.conditional else None)
            return self.generator_inputs(z, labels)
        return inputs

    # -- images -----------------------------------------------------------------------------------------
    def sample_images(self, n, seed=0, classes=None, batch_size=500):
        """n uint8 images from fresh z (seeded); conditional models cycle through `classes` (default all)."""
        labels, generator, z_all = None, self.sampler(), latent_vectors(n, self.nz, seed)
        if self.conditional:
            classes = np.asarray(classes if classes is not None else range(self.num_classes), np.int32)
            labels = classes[np.arange(n) % len(classes)]
        out = []
        for i in range(0, n, batch_size):
            z = z_all[i:i + batch_size]
            batch_labels = None if labels is None else labels[i:i + batch_size]
            out.append(to_uint8(self.generate(z, batch_labels, generator=generator).numpy()))
        return np.concatenate(out), labels

    def use_data(self, image_set):
        """Called with the training set before training (variants that sample from data keep what they need)."""

    def grid_inputs(self, batch, classes=None, per_class=8, count=64, seed=1234):
        """Fixed inputs of the per-epoch grid (from a first training `batch`, for variants that need data):
        64 latent vectors, or for conditional models one row of 8 per class."""
        if self.conditional:
            rows = list(classes) if classes is not None else list(range(self.num_classes))
            labels = np.repeat(np.asarray(rows, np.int32), per_class)
            return dict(z=latent_vectors(len(labels), self.nz, seed), labels=labels, rows=len(rows))
        return dict(z=latent_vectors(count, self.nz, seed), labels=None, rows=8)

    def grid_image(self, inputs):
        """The uint8 grid of the samples of grid_inputs(), from sampler()."""
        fake = self.generate(inputs["z"], inputs["labels"], generator=self.sampler())
        return grid(to_uint8(fake.numpy()), rows=inputs["rows"])

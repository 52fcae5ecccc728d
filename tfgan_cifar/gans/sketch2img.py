"""sketch2img: a conditional WGAN-GP that turns a sketch and a class label into an image.

G is a U-Net from (sketch, label); the critic sees (image, sketch, label-embedding plane) with instance
norm. Sketches are edges of the training images (sketch.py), either the image's own (`paired`, where an
optional L1 term pulls G towards the very image) or another image's of the same class (`unpaired`: G
cannot copy colours from its input's source), or the user's own (--sketch_dir). The seed work's
setting (skin lesions, 64x64, lambda 100, 5 critic steps, lr 1e-4, 100 epochs) is `--preset=seed`.
"""
import numpy as np
import tensorflow as tf

from tfgan_cifar.lib import data, networks, savedmodel, sketch
from tfgan_cifar.lib.errors import UsageError
from tfgan_cifar.gans import register
from tfgan_cifar.gans.base import LABEL
from tfgan_cifar.gans.wasserstein import GradientPenaltyGAN
from tfgan_cifar.gans.wgan_gp import WGANGP
from tfgan_cifar.lib.images import grid, to_uint8

SKETCH_MODES = ("paired", "unpaired")


@register("sketch2img")
class Sketch2Img(GradientPenaltyGAN):
    INPUTS = {"sketch": (tf.float32, lambda gan: [None, gan.image_size, gan.image_size, 1]),  # ink in [0, 1]
              "label": LABEL}
    PRESET = dict(width=64, g_lr=1e-4, d_lr=1e-4, beta1=0.0, beta2=0.9, n_critic=5, gp_weight=10.0, norm="instance",
                  sketches="paired", l1_weight=0.0, upsample="transpose", noise="dropout", edge_threshold=0.2,
                  edge_blur=False, sketch_dir="")
    # make zoo's CPU preset: wgan_gp's, with one critic step per G step (1.3x the G steps) and sparser sketches
    # (edges above 0.3 of the maximum rather than 0.2; at 0.1 it got much worse). 300-s probes on CIFAR-10 (seed 0,
    # N = 5,000): FID 15.2 with wgan_gp's preset, 11.7 with n_critic 1, 10.5 with both; unpaired sketches 25.7.
    # And a random vector per image that sampling draws too, instead of dropout that only training has (noise
    # "latent"): 300 s, 10.68 vs 11.32; 1,800 s (N = 10,000), 8.15 / recall 0.44 vs 8.98 / 0.40. Width 48 instead of
    # 32 on top (as dcgan's in bfloat16): 1,800 s, 7.05 / 0.52 in 10,031 steps vs 8.15 / 0.44 in 16,798. And layer
    # norm in the critic, as wgan_gp's, instead of the seed's instance norm, which normalises away each image's
    # colour statistics, so the critic could not tell G's muted colours from real ones: 1,800 s, 4.64 / recall 0.67
    # in 10,423 steps vs 7.05 / 0.52.
    NAMED_PRESETS = {"seed": dict(gp_weight=100.0, sketches="unpaired", image_size=64, epochs=100),
                     "cpu_fast": dict(WGANGP.NAMED_PRESETS["cpu_fast"], width=48, n_critic=1, edge_threshold=0.3,
                                      noise="latent", norm="layer")}
    METRICS = ("d_loss", "g_loss", "w_distance", "gp", "l1")
    SUMMARY = ("Wasserstein + gradient penalty (+ optional L1 to the paired image); G: U-Net from sketch + label "
               "embedding; critic: image + sketch + label plane, instance norm (layer norm in cpu_fast)")

    bank = None  # (sketches uint8, labels) that sample_images draws from: see use_data

    @classmethod
    def validate_config(cls, config):
        super().validate_config(config)  # critic norms
        cls.check_choice(config, "sketches", SKETCH_MODES)
        cls.check_choice(config, "upsample", ("transpose", "bilinear"))
        cls.check_choice(config, "noise", ("dropout", "z", "latent", "none"))
        if not 0 < config.edge_threshold < 1:
            raise UsageError(f"--edge_threshold must be in (0, 1), got {config.edge_threshold}")
        if config.l1_weight < 0:
            raise UsageError(f"--l1_weight must be >= 0, got {config.l1_weight}")
        if config.l1_weight and config.sketches != "paired":
            raise UsageError("--l1_weight needs --sketches=paired (an unpaired sketch has no target image)")
        if config.diffaugment:
            raise UsageError("--diffaugment does not apply to sketch2img (it would move the image off its sketch)")
        if config.sketch_dir and not config.dataset.startswith("folder:"):
            raise UsageError("--sketch_dir mirrors an image folder: use it with --dataset=folder:PATH")

    # -- its input: where the sketches come from in training, sampling and evaluation ------------------------
    @classmethod
    def prepare_data(cls, image_set, split, config):
        return sketch.attach(image_set, split, config)  # ImageSet.extra = the sketches

    @classmethod
    def pipeline_options(cls, config):
        return dict(extra_from_same_class=config.sketches == "unpaired")

    @classmethod
    def sampling_inputs(cls, meta, n, seed=0, labels="", source="", per_source=1):
        """`per_source` images per sketch of `source` (a file or a folder, the user's --sketch), each sketch's
        in a row; `n` does not apply. Several differ only where the generator draws a random vector of its own."""
        if not source:
            raise UsageError("sketch2img generates from sketches: give --sketch=FILE_OR_FOLDER (make sample SKETCH=...)")
        if per_source < 1:
            raise UsageError(f"--per_sketch must be >= 1, got {per_source}")
        if per_source > 1 and meta.get("noise") != "latent":
            raise UsageError(f"--per_sketch={per_source}: this model draws one image per sketch (trained with "
                             f"--noise={meta.get('noise', 'dropout')}, which is off in sampling); a model trained "
                             f"with --noise=latent (as --preset=cpu_fast) draws a new one each time")
        sketches, _ = sketch.read_sketches(source, meta["image_size"])
        labels = savedmodel.parse_labels(labels, len(sketches), meta)
        return dict(sketch=np.repeat(sketches, per_source, axis=0), label=np.repeat(labels, per_source))

    @classmethod
    def evaluation_inputs(cls, meta, held_out, n, seed=0):
        """The held-out images' own sketches with their labels; with paired sketches each image is the target."""
        sketches = sketch.sketches_of(held_out.images, meta["edge_threshold"], meta["edge_blur"])
        inputs = dict(sketch=sketches.astype(np.float32) / 255.0, label=held_out.labels)
        return inputs, held_out.labels, held_out.images if meta["sketches"] == "paired" else None

    @classmethod
    def evaluation_extras(cls, meta, inputs, fake, held_out):
        """Edge F1 of each sample to the sketch it was drawn from; as its chance level, the real images' F1 to
        another image's sketch of the same class (what a generator that ignores its sketch would score)."""
        threshold, blur = meta["edge_threshold"], meta["edge_blur"]
        others = inputs["sketch"][same_class_partners(held_out.labels)]
        return (dict(sketch_f1=sketch.agreement(fake, inputs["sketch"], threshold, blur)),
                dict(sketch_f1_chance=sketch.stroke_f1(inputs["sketch"], others)))  # the sketches are their edges

    @classmethod
    def sample_picture(cls, inputs, images, rows=None, per_source=1):
        """A row per sketch: the sketch (dark strokes on white) | the images generated from it."""
        drawn = np.repeat(np.round(255 * (1.0 - inputs["sketch"][::per_source])).astype(np.uint8), 3, axis=-1)
        generated = images.reshape((len(drawn), per_source) + images.shape[1:])
        return np.concatenate([drawn[:, None], generated], axis=1).reshape((-1,) + images.shape[1:]), len(drawn)

    def build_generator(self):
        c = self.config
        return networks.unet_generator(self.image_size, c.width, self.num_classes, c.upsample, c.noise)

    def build_discriminator(self):
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm=self.config.norm,
                                            num_classes=self.num_classes, label_plane=True, sketch_input=True)

    def generator_inputs(self, sketches, labels=None):
        return [tf.convert_to_tensor(sketches, tf.float32), tf.cast(labels, tf.int32)]

    def discriminate(self, images, labels=None, training=True, sketches=None):
        return self.discriminator([images, sketches, labels], training=training)

    def critic_setup(self, data):
        """The critic sees each image with its sketch and label; the generator draws from the sketches."""
        real, labels, sketches = data
        critic = lambda images: self.discriminate(images, labels, sketches=sketches)
        return real, critic, lambda: self.generate(sketches, labels, training=True)

    def generator_extra_loss(self, real, fake):
        l1 = tf.reduce_mean(tf.abs(fake - real))  # meaningful for paired sketches only
        return self.config.l1_weight * l1, {"l1": l1}

    # -- sampling from sketches -------------------------------------------------------------------------
    def use_data(self, image_set):
        """Sketches (and their labels) that sample_images draws from, e.g. for the per-epoch FID."""
        self.bank = (image_set.extra, image_set.labels)

    def recalibration_inputs(self, batch_size):
        """The U-Net's batch-norm statistics (with --ema) are re-estimated on sketches from the bank."""
        if self.bank is None:
            return None
        sketches, labels = self.bank

        def inputs(i):
            idx = np.random.default_rng(i).choice(len(labels), batch_size)
            return self.generator_inputs(sketches[idx].astype(np.float32) / 255.0, labels[idx])
        return inputs

    def sample_images(self, n, seed=0, classes=None, batch_size=500):
        rng = np.random.default_rng(seed)
        sketches, labels = self.bank
        allowed = np.flatnonzero(np.isin(labels, classes)) if classes is not None else np.arange(len(labels))
        pick = rng.choice(allowed, n, replace=n > len(allowed))
        generator, out = self.sampler(), []
        for i in range(0, n, batch_size):
            idx = pick[i:i + batch_size]
            fake = self.generate(sketches[idx].astype(np.float32) / 255.0, labels[idx], generator=generator)
            out.append(to_uint8(fake.numpy()))
        return np.concatenate(out), labels[pick]

    def grid_inputs(self, batch, classes=None, count=8):
        real, labels, sketches = batch
        return dict(real=real[:count], labels=labels[:count], sketches=sketches[:count], rows=count)

    def grid_image(self, inputs):
        """Rows of sketch | generated | real."""
        fake = self.generate(inputs["sketches"], inputs["labels"], generator=self.sampler()).numpy()
        sketch_rgb = np.repeat(1.0 - 2.0 * inputs["sketches"], 3, axis=-1)  # dark strokes on white
        triplets = np.stack([sketch_rgb, fake, inputs["real"]], axis=1).reshape((-1,) + fake.shape[1:])
        return grid(to_uint8(triplets), rows=inputs["rows"])

    def export_metadata(self):
        c = self.config
        return dict(sketches=c.sketches, edge_threshold=c.edge_threshold, edge_blur=c.edge_blur, noise=c.noise)


def same_class_partners(labels):
    """For each position, the next position of the same class, cyclically (itself when its class has one image):
    the training pipeline's unpaired draw (data.partners) with its random offset at 0."""
    members, counts, position = data.class_members(labels)
    n = len(labels)
    return data.partners(np.arange(n), labels, members, counts, position, np.zeros(n, np.float32)).numpy()

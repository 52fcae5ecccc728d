"""DCGAN (Radford et al., 2015): BN + ReLU/tanh generator, BN + LeakyReLU discriminator,
non-saturating minimax (BCE) losses, Adam(2e-4, beta1 0.5); both rates fall linearly to 0 over the run (not
the paper's: at its constant rate a 30-epoch CIFAR-10 run collapsed, docs/training.md; --lr_decay=none for it).

Its train_step is the plain alternating GAN algorithm; `mlp` and `sagan` reuse it with other networks,
losses and conditioning.
"""
import tensorflow as tf

from tfgan_cifar.lib import losses, networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.base import GAN


@register("dcgan")
class DCGAN(GAN):
    PRESET = dict(GAN.PRESET, loss="bce", label_smoothing=0.0, norm="batch", simultaneous=False, r1_weight=0.0,
                  lr_decay="linear")
    # The paper's constant rate collapsed at epoch 21 of 30 on CIFAR-10 (and again at 29); falling linearly to 0
    # over the run, neither 10 nor 30 epochs collapsed, and both beat the constant rate's runs under every judge
    # (N = 10,000, strong evaluator: FID 103.4 / 89.7 against 106.2 / 110.9, SWD 12.9 / 13.7 against 27.0 /
    # 16.4, two-sample accuracy 0.956 / 0.940 against 0.998 / 0.999; docs/training.md, "Three times the epochs").
    # The CPU recipe of make bench-quality-cifar, chosen by measuring each lever alone at a fixed budget
    # (README, "Quality per CPU-minute"): twice the learning rate pays off once the rates are held for the
    # first half of the budget and then fall to 0 (at a constant rate it did not). None of EMA, TTUR, hinge,
    # spectral norm, DiffAugment, XLA or batch 32 helped, so the recipe pins the alternating update (the
    # simultaneous one trained worse) and no EMA. Width: in float32, width 32 (2x the steps of 64) won; with
    # --precision=auto choosing bfloat16 (1.2-1.3x float32 on an AVX512-BF16 CPU), the speed is best spent on
    # width 48: 600 s, seed 0, FD 3.07 / 2.81 / 2.58 / 4.59 at width 32 / 40 / 48 / 64 (11,754 / 8,186 /
    # 7,097 / 4,651 steps).
    NAMED_PRESETS = {"cpu_fast": dict(width=48, g_lr=4e-4, d_lr=4e-4, lr_decay="linear", lr_decay_start=0.5,
                                      precision="auto", simultaneous=False, ema=0.0)}
    METRICS = ("d_loss", "g_loss", "d_real", "d_fake")
    SUMMARY = ("BCE (non-saturating) or hinge; transposed-conv G with BN+ReLU, tanh; strided-conv D with BN (or "
               "spectral norm) + LeakyReLU(0.2); alternating or simultaneous updates")

    @classmethod
    def validate_config(cls, config):
        cls.check_choice(config, "loss", tuple(losses.ADVERSARIAL))
        cls.check_choice(config, "norm", ("batch", "spectral", "none"))

    def build_generator(self):
        return networks.dcgan_generator(self.nz, self.image_size, self.config.width)

    def build_discriminator(self):
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm=self.config.norm)

    def train_step(self, data):
        real, labels = data
        labels = self.condition(labels)
        batch = tf.shape(real)[0]
        d_loss_fn, g_loss_fn = losses.adversarial_pair(self.config.loss, self.config.label_smoothing or 0.0)
        if self.config.simultaneous:
            # One generator pass and one critic pass on the fakes serve both losses (as in TensorFlow's DCGAN
            # tutorial): G's gradient is taken against D before D's update. About 1/3 less compute per step.
            with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
                fake = self.generate(self.sample_z(batch), labels, training=True)
                real_out, r1 = self.discriminate_real(real, labels)
                fake_out = self.discriminate(fake, labels)
                d_loss, g_loss = d_loss_fn(real_out, fake_out) + r1, g_loss_fn(fake_out)
            self.step(self.d_optimizer, d_tape, d_loss, self.discriminator)
            self.step(self.g_optimizer, g_tape, g_loss, self.generator)
            return self.readouts(d_loss, g_loss, real_out, fake_out)
        for _ in range(self.config.n_critic or 1):
            fake = self.generate(self.sample_z(batch), labels, training=True)
            with tf.GradientTape() as tape:
                real_out, r1 = self.discriminate_real(real, labels)
                fake_out = self.discriminate(fake, labels)
                d_loss = d_loss_fn(real_out, fake_out) + r1
            self.step(self.d_optimizer, tape, d_loss, self.discriminator)

        with tf.GradientTape() as tape:
            fake = self.generate(self.sample_z(batch), labels, training=True)
            g_loss = g_loss_fn(self.discriminate(fake, labels))
        self.step(self.g_optimizer, tape, g_loss, self.generator)
        return self.readouts(d_loss, g_loss, real_out, fake_out)

    def discriminate_real(self, real, labels):
        """D(x), and D's R1 term gamma/2 * E||grad_x D(x)||^2 (0 without --r1_weight): a zero-centred penalty on
        real images only, which keeps D from overshooting near the data (Mescheder et al., 2018)."""
        if not self.config.r1_weight:
            return self.discriminate(real, labels), 0.0
        real_out, r1 = losses.r1_penalty(lambda images: self.discriminate(images, labels), real)
        return real_out, 0.5 * self.config.r1_weight * r1

    def readouts(self, d_loss, g_loss, real_out, fake_out):
        # D(x) and D(G(z)): probabilities for BCE, raw scores for other losses.
        readout = tf.sigmoid if self.config.loss == "bce" else tf.identity
        return self.record(d_loss=d_loss, g_loss=g_loss, d_real=tf.reduce_mean(readout(real_out)),
                           d_fake=tf.reduce_mean(readout(fake_out)))

"""DCGAN (Radford et al., 2015): BN + ReLU/tanh generator, BN + LeakyReLU discriminator,
non-saturating minimax (BCE) losses, Adam(2e-4, beta1 0.5).

Its train_step is the plain alternating GAN algorithm; `mlp` and `sagan` reuse it with other networks,
losses and conditioning.
"""
import tensorflow as tf

from tfgan_cifar import losses, networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.base import GAN


@register("dcgan")
class DCGAN(GAN):
    PRESET = dict(GAN.PRESET, loss="bce", label_smoothing=0.0)
    # A CPU recipe for make bench-quality-cifar: bfloat16 compute (this CPU has AVX512-BF16) and an EMA
    # generator. A candidate under measurement (issue 10), not a published setting.
    NAMED_PRESETS = {"cpu_fast": dict(precision="mixed_bfloat16", ema=0.999)}
    METRICS = ("d_loss", "g_loss", "d_real", "d_fake")
    SUMMARY = "BCE (non-saturating); transposed-conv G with BN+ReLU, tanh; strided-conv D with BN+LeakyReLU(0.2)"

    @classmethod
    def validate_config(cls, config):
        cls.check_choice(config, "loss", tuple(losses.ADVERSARIAL))

    def build_generator(self):
        return networks.dcgan_generator(self.nz, self.image_size, self.config.width)

    def build_discriminator(self):
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm="batch")

    def train_step(self, data):
        real, labels = data
        labels = self.condition(labels)
        batch = tf.shape(real)[0]
        d_loss_fn, g_loss_fn = losses.adversarial_pair(self.config.loss, self.config.label_smoothing or 0.0)
        for _ in range(self.config.n_critic or 1):
            fake = self.generate(self.sample_z(batch), labels, training=True)
            with tf.GradientTape() as tape:
                real_out = self.discriminate(real, labels)
                fake_out = self.discriminate(fake, labels)
                d_loss = d_loss_fn(real_out, fake_out)
            self.step(self.d_optimizer, tape, d_loss, self.discriminator)

        with tf.GradientTape() as tape:
            fake = self.generate(self.sample_z(batch), labels, training=True)
            g_loss = g_loss_fn(self.discriminate(fake, labels))
        self.step(self.g_optimizer, tape, g_loss, self.generator)
        # D(x) and D(G(z)): probabilities for BCE, raw scores for other losses.
        readout = tf.sigmoid if self.config.loss == "bce" else tf.identity
        return self.record(d_loss=d_loss, g_loss=g_loss, d_real=tf.reduce_mean(readout(real_out)),
                           d_fake=tf.reduce_mean(readout(fake_out)))

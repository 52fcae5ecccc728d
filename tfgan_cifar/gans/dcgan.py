"""DCGAN (Radford et al., 2015): BN + ReLU/tanh generator, BN + LeakyReLU discriminator,
non-saturating minimax (BCE) losses, Adam(2e-4, beta1 0.5)."""
import tensorflow as tf

from tfgan_cifar import losses, networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.base import GAN


@register("dcgan")
class DCGAN(GAN):
    PRESET = dict(GAN.PRESET, label_smoothing=0.0)
    METRICS = ("d_loss", "g_loss", "d_real", "d_fake")
    SUMMARY = "BCE (non-saturating); conv-transpose G with BN+ReLU, conv D with BN+LeakyReLU"

    def build_generator(self):
        return networks.dcgan_generator(self.nz, self.image_size, self.config.width)

    def build_discriminator(self):
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm="batch")

    def train_step(self, data):
        real, _ = data
        batch = tf.shape(real)[0]
        with tf.GradientTape() as tape:
            fake = self.generator(self.sample_z(batch), training=True)
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = losses.minimax_discriminator_loss(real_logits, fake_logits, self.config.label_smoothing)
        self.step(self.d_optimizer, tape, d_loss, self.discriminator)

        with tf.GradientTape() as tape:
            fake_logits_g = self.discriminator(self.generator(self.sample_z(batch), training=True), training=True)
            g_loss = losses.non_saturating_generator_loss(fake_logits_g)
        self.step(self.g_optimizer, tape, g_loss, self.generator)
        # D(x) and D(G(z)) as probabilities, the classic health signals of a BCE GAN.
        return self.record(d_loss=d_loss, g_loss=g_loss, d_real=tf.reduce_mean(tf.sigmoid(real_logits)),
                           d_fake=tf.reduce_mean(tf.sigmoid(fake_logits)))

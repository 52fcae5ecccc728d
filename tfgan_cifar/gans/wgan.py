"""WGAN (Arjovsky et al., 2017): a Wasserstein critic (linear output, no BN, no sigmoid) trained n_critic
times per generator step, its weights clipped to [-c, c] after every critic step; RMSProp(5e-5).

Its train_step is the Wasserstein algorithm box; `wgan_gp` and `cgan` reuse it with a gradient penalty
in place of clipping.
"""
import keras
import tensorflow as tf

from tfgan_cifar.lib import losses, networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.base import GAN


@register("wgan")
class WGAN(GAN):
    PRESET = dict(nz=100, width=64, g_lr=5e-5, d_lr=5e-5, n_critic=5, clip_value=0.01)
    METRICS = ("d_loss", "g_loss", "w_distance")
    SUMMARY = "Wasserstein, critic weights clipped to [-c, c]; DCGAN G; DCGAN critic without BN, linear output"

    def make_optimizers(self):
        c = self.config
        return keras.optimizers.RMSprop(c.g_lr, name="g_rmsprop"), keras.optimizers.RMSprop(c.d_lr, name="d_rmsprop")

    def build_generator(self):
        return networks.dcgan_generator(self.nz, self.image_size, self.config.width)

    def build_discriminator(self):
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm="none")

    def lipschitz_penalty(self, real, fake, labels):
        """Extra critic loss enforcing the Lipschitz constraint (none: WGAN clips weights instead)."""
        return tf.constant(0.0)

    def after_critic_step(self):
        c = self.config.clip_value
        for v in self.discriminator.trainable_variables:
            v.assign(tf.clip_by_value(v, -c, c))

    def train_step(self, data):
        real, labels = data
        labels = self.condition(labels)
        batch = tf.shape(real)[0]
        for _ in range(self.config.n_critic):  # the real batch is reused; each critic step draws new z
            fake = self.generate(self.sample_z(batch), labels, training=True)
            with tf.GradientTape() as tape:
                w_loss = losses.wasserstein_critic_loss(self.discriminate(real, labels),
                                                        self.discriminate(fake, labels))
                penalty = self.lipschitz_penalty(real, fake, labels)
                d_loss = w_loss + penalty
            self.step(self.d_optimizer, tape, d_loss, self.discriminator)
            self.after_critic_step()

        with tf.GradientTape() as tape:
            fake = self.generate(self.sample_z(batch), labels, training=True)
            g_loss = losses.wasserstein_generator_loss(self.discriminate(fake, labels))
        self.step(self.g_optimizer, tape, g_loss, self.generator)
        return self.record(d_loss=d_loss, g_loss=g_loss, w_distance=-w_loss, gp=penalty)  # gp: if in METRICS

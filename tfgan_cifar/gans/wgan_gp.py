"""WGAN-GP (Gulrajani et al., 2017): the WGAN critic loop with a gradient penalty on random interpolates
instead of clipping; a per-sample-normalised critic (layer/instance norm, never batch norm);
Adam(1e-4, betas (0, 0.9)), lambda 10, n_critic 5."""
import keras
import tensorflow as tf

from tfgan_cifar.lib import losses, networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.base import GAN
from tfgan_cifar.gans.wgan import WGAN

CRITIC_NORMS = ("layer", "instance", "none")


@register("wgan_gp")
class WGANGP(WGAN):
    PRESET = dict(nz=100, width=64, g_lr=1e-4, d_lr=1e-4, beta1=0.0, beta2=0.9, n_critic=5, gp_weight=10.0,
                  norm="layer")
    METRICS = ("d_loss", "g_loss", "w_distance", "gp")
    SUMMARY = "Wasserstein + gradient penalty; DCGAN G; DCGAN critic with layer/instance/no norm, linear output"

    @classmethod
    def validate_config(cls, config):
        cls.check_choice(config, "norm", CRITIC_NORMS)  # batch norm would couple samples: the penalty is per sample

    make_optimizers = GAN.make_optimizers  # Adam, not WGAN's RMSProp

    def build_discriminator(self):
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm=self.config.norm)

    def lipschitz_penalty(self, real, fake, labels):
        critic = lambda x: self.discriminate(x, labels)
        alpha = self.draw(keras.random.uniform, [tf.shape(real)[0], 1, 1, 1])  # uniform per sample
        return self.config.gp_weight * losses.gradient_penalty(critic, real, fake, alpha=alpha)

    def after_critic_step(self):
        pass

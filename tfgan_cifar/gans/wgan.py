"""WGAN (Arjovsky et al., 2017): a Wasserstein critic (linear output, no BN, no sigmoid) trained n_critic
times per generator step, its weights clipped to [-c, c] after every critic step; RMSProp(5e-5)."""
import keras
import tensorflow as tf

from tfgan_cifar.lib import networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.wasserstein import WassersteinGAN


@register("wgan")
class WGAN(WassersteinGAN):
    PRESET = dict(nz=100, width=64, g_lr=5e-5, d_lr=5e-5, n_critic=5, clip_value=0.01, norm="none")
    # The CPU preset of make zoo (see wgan_gp's): width 32 for twice the steps, the rate doubled and falling
    # linearly to 0 over the budget's second half (as dcgan's cpu_fast), and batch norm in the critic, as in
    # the authors' code (its DCGAN critic has it; clipping leaves a critic without it with tiny activations:
    # on CIFAR-10 it still drew the same textured blobs after 15 of the 30 minutes). Five critic steps stay:
    # with no penalty, only more steps bring a clipped critic near its optimum.
    NAMED_PRESETS = {"cpu_fast": dict(width=32, g_lr=1e-4, d_lr=1e-4, lr_decay="linear", lr_decay_start=0.5,
                                      norm="batch", precision="auto")}
    SUMMARY = "Wasserstein, critic weights clipped to [-c, c]; DCGAN G; DCGAN critic (no norm or BN), linear output"

    @classmethod
    def validate_config(cls, config):
        cls.check_choice(config, "norm", ("none", "batch"))  # batch norm is safe here: no gradient penalty

    def make_optimizers(self):
        c = self.config
        return keras.optimizers.RMSprop(c.g_lr, name="g_rmsprop"), keras.optimizers.RMSprop(c.d_lr, name="d_rmsprop")

    def build_generator(self):
        return networks.dcgan_generator(self.nz, self.image_size, self.config.width)

    def build_discriminator(self):
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm=self.config.norm)

    def after_critic_step(self):
        c = self.config.clip_value
        for v in self.discriminator.trainable_variables:
            v.assign(tf.clip_by_value(v, -c, c))

"""WGAN-GP (Gulrajani et al., 2017): the Wasserstein critic loop with a gradient penalty on random
interpolates instead of clipping; a per-sample-normalised critic (layer/instance norm, never batch norm);
Adam(1e-4, betas (0, 0.9)), lambda 10, n_critic 5."""
from tfgan_cifar.lib import networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.wasserstein import GradientPenaltyGAN


@register("wgan_gp")
class WGANGP(GradientPenaltyGAN):
    PRESET = dict(nz=100, width=64, g_lr=1e-4, d_lr=1e-4, beta1=0.0, beta2=0.9, n_critic=5, gp_weight=10.0,
                  norm="layer")
    SUMMARY = "Wasserstein + gradient penalty; DCGAN G; DCGAN critic with layer/instance/no norm, linear output"

    def build_generator(self):
        return networks.dcgan_generator(self.nz, self.image_size, self.config.width)

    def build_discriminator(self):
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm=self.config.norm)

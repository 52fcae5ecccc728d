"""Conditional SN-SAGAN (Zhang et al., 2019; Miyato et al., 2018): spectral normalisation on every
discriminator layer (and by default the generator's), self-attention at 16x16 in both networks with
gamma initialised to 0, hinge loss, two time-scale update rule (G 1e-4, D 4e-4, Adam betas (0, 0.9)),
class conditioning by conditional batch norm in G and a projection discriminator.

The step is DCGAN's alternating one with the hinge loss and labels; only the networks differ."""
from tfgan_cifar.lib import networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.base import GAN, LABEL, LATENT
from tfgan_cifar.gans.dcgan import DCGAN


@register("sagan")
class SAGAN(DCGAN):
    INPUTS = {"z": LATENT, "label": LABEL}
    discriminator_takes_labels = True
    PRESET = dict(GAN.PRESET, g_lr=1e-4, d_lr=4e-4, beta1=0.0, beta2=0.9, n_critic=1, loss="hinge",
                  conditioning="projection", g_spectral_norm=True)
    SUMMARY = ("hinge (or BCE); SN everywhere in D (and G), self-attention at 16x16; G: conditional BN; "
               "D: projection (or label plane)")

    @classmethod
    def validate_config(cls, config):
        super().validate_config(config)
        cls.check_choice(config, "conditioning", ("projection", "concat"))

    def build_generator(self):
        return networks.sagan_generator(self.nz, self.image_size, self.config.width, self.num_classes,
                                        spectral_norm=self.config.g_spectral_norm)

    def build_discriminator(self):
        return networks.sagan_discriminator(self.image_size, self.config.width, self.num_classes,
                                            conditioning=self.config.conditioning)

"""Conditional WGAN-GP: the label is concatenated to z (as a learned embedding) in the generator and
enters the critic as an extra image plane; otherwise WGAN-GP with its published hyper-parameters."""
from tfgan_cifar.lib import networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.base import LABEL, LATENT
from tfgan_cifar.gans.wgan_gp import WGANGP


@register("cgan")
class ConditionalWGANGP(WGANGP):
    INPUTS = {"z": LATENT, "label": LABEL}
    discriminator_takes_labels = True
    SUMMARY = "Wasserstein + gradient penalty; G: z ++ label embedding; critic: image + label-embedding plane"
    NAMED_PRESETS = WGANGP.NAMED_PRESETS  # named presets are a variant's own: say that wgan_gp's apply here too

    def build_generator(self):
        return networks.dcgan_generator(self.nz, self.image_size, self.config.width, num_classes=self.num_classes,
                                        condition="concat")

    def build_discriminator(self):
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm=self.config.norm,
                                            num_classes=self.num_classes, label_plane=True)

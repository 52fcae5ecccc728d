"""The simple GAN (Goodfellow et al., 2014): fully connected generator and discriminator, BCE losses.
The baseline the convolutional variants are measured against."""
from tfgan_cifar.lib import networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.dcgan import DCGAN


@register("mlp")
class MLPGAN(DCGAN):
    PRESET = {k: v for k, v in DCGAN.PRESET.items() if k not in ("width", "norm")}
    SUMMARY = "BCE (non-saturating); MLP G 256-512-1024 (LeakyReLU, tanh), MLP D 1024-512-256 (LeakyReLU)"

    def build_generator(self):
        return networks.mlp_generator(self.nz, self.image_size)

    def build_discriminator(self):
        return networks.mlp_discriminator(self.image_size)

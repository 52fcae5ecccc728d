"""The simple GAN (Goodfellow et al., 2014): fully connected generator and discriminator, BCE losses.
The baseline the convolutional variants are measured against."""
from tfgan_cifar.lib import networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.dcgan import DCGAN


@register("mlp")
class MLPGAN(DCGAN):
    PRESET = {k: v for k, v in DCGAN.PRESET.items() if k not in ("width", "norm")}
    # The CPU preset of make zoo. With the default rates the fully connected D never tells real from fake
    # (D(real) = D(fake) = 0.50 from step 4,000 of 41,000 on), so G gets little signal: D learns at twice G's rate
    # (300-s probes on CIFAR-10, seed 0: FID 25.9 default, 19.8 at d_lr 4e-4, 21.6 at 8e-4; 1e-4 had scored 36.5).
    NAMED_PRESETS = {"cpu_fast": dict(d_lr=4e-4, precision="auto")}
    SUMMARY = "BCE (non-saturating); MLP G 256-512-1024 (LeakyReLU, tanh), MLP D 1024-512-256 (LeakyReLU)"

    def build_generator(self):
        return networks.mlp_generator(self.nz, self.image_size)

    def build_discriminator(self):
        return networks.mlp_discriminator(self.image_size)

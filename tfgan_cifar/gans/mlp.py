"""The simple GAN (Goodfellow et al., 2014): fully connected generator and discriminator, BCE losses.
The baseline the convolutional variants are measured against."""
from tfgan_cifar.lib import networks
from tfgan_cifar.gans import register
from tfgan_cifar.gans.dcgan import DCGAN


@register("mlp")
class MLPGAN(DCGAN):
    # width: units of the narrowest hidden layer (G 1x-2x-4x, D 4x-2x-1x).
    PRESET = dict({k: v for k, v in DCGAN.PRESET.items() if k not in ("norm", "lr_decay")},
                  width=256)  # measured, and zoo-tuned, at a constant rate
    # The CPU preset of make zoo. With the default rates the fully connected D never tells real from fake
    # (D(real) = D(fake) = 0.50 from step 4,000 of 41,000 on), so G gets little signal: D learns at twice G's rate
    # (300-s probes on CIFAR-10, seed 0: FID 25.9 default, 19.8 at d_lr 4e-4, 21.6 at 8e-4; 1e-4 had scored 36.5).
    NAMED_PRESETS = {"cpu_fast": dict(d_lr=4e-4, precision="auto")}
    SUMMARY = "BCE (non-saturating); MLP G w-2w-4w (LeakyReLU, tanh), MLP D 4w-2w-w (LeakyReLU); w = width, 256"

    def build_generator(self):
        w = self.config.width
        return networks.mlp_generator(self.nz, self.image_size, hidden=(w, 2 * w, 4 * w))

    def build_discriminator(self):
        w = self.config.width
        return networks.mlp_discriminator(self.image_size, hidden=(4 * w, 2 * w, w))

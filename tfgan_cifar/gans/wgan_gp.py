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
    # The CPU preset of make zoo. Five critic steps per G step at width 64 leave too few G steps for 30 CPU-minutes
    # (cgan's published recipe still drew class-coloured blobs after 30 minutes), so: two critic steps (each with its
    # double backward pass for the penalty), dcgan cpu_fast's width 32, and the rate of the WGAN-GP authors' own
    # CIFAR-10 code, 2e-4, falling linearly to 0 (here over the budget's second half, as dcgan's cpu_fast).
    NAMED_PRESETS = {"cpu_fast": dict(width=32, n_critic=2, g_lr=2e-4, d_lr=2e-4, lr_decay="linear",
                                      lr_decay_start=0.5, precision="auto")}
    SUMMARY = "Wasserstein + gradient penalty; DCGAN G; DCGAN critic with layer/instance/no norm, linear output"

    def build_generator(self):
        return networks.dcgan_generator(self.nz, self.image_size, self.config.width)

    def build_discriminator(self):
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm=self.config.norm)

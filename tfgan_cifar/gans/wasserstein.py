"""The Wasserstein algorithm box, shared by wgan, wgan_gp, cgan and sketch2img (Arjovsky et al., 2017, Alg. 1;
Gulrajani et al., 2017, Alg. 1):

    for n_critic steps:  (the real batch is reused; each step generates anew)
        fake = G(inputs)
        L_D = E[D(fake)] - E[D(real)] + lipschitz_penalty      -> critic update, then after_critic_step
    fake = G(inputs);  L_G = -E[D(fake)] + generator_extra_loss  -> generator update

A variant says how its critic is kept 1-Lipschitz (clipping after each step, or a penalty in the loss) and,
through critic_setup, what the generator and the critic are given (z and labels, or sketches).
"""
import keras
import tensorflow as tf

from tfgan_cifar.lib import losses
from tfgan_cifar.gans.base import GAN, repeat

CRITIC_NORMS = ("layer", "instance", "none")  # never batch norm: it couples the samples of a batch


class WassersteinGAN(GAN):
    METRICS = ("d_loss", "g_loss", "w_distance")

    def critic_setup(self, data):
        """(real images, critic: images -> scores, make_fake: () -> generated images) for one batch."""
        real, labels = data[0], self.condition(data[1])
        batch = tf.shape(real)[0]
        critic = lambda images: self.discriminate(images, labels)
        make_fake = lambda: self.generate(self.sample_z(batch), labels, training=True)
        return real, critic, make_fake

    def lipschitz_penalty(self, critic, real, fake):
        """Added to the critic's loss; none by default."""
        return tf.constant(0.0)

    def after_critic_step(self):
        """Runs after every critic update; nothing by default."""

    def generator_extra_loss(self, real, fake):
        """(a term added to G's loss, {metric name: value}); none by default."""
        return 0.0, {}

    def train_step(self, data):
        real, critic, make_fake = self.critic_setup(data)

        def critic_step(d_loss, w_loss, penalty):
            fake = make_fake()
            with tf.GradientTape() as tape:
                w_loss = tf.cast(losses.wasserstein_critic_loss(critic(real), critic(fake)), tf.float32)
                penalty = tf.cast(self.lipschitz_penalty(critic, real, fake), tf.float32)
                d_loss = w_loss + penalty
            self.step(self.d_optimizer, tape, d_loss, self.discriminator)
            self.after_critic_step()
            return d_loss, w_loss, penalty
        zero = tf.zeros([], tf.float32)
        d_loss, w_loss, penalty = repeat(self.config.n_critic, critic_step, (zero, zero, zero))

        with tf.GradientTape() as tape:
            fake = make_fake()
            extra_loss, extra_metrics = self.generator_extra_loss(real, fake)
            g_loss = losses.wasserstein_generator_loss(critic(fake)) + extra_loss
        self.step(self.g_optimizer, tape, g_loss, self.generator)
        return self.record(d_loss=d_loss, g_loss=g_loss, w_distance=-w_loss, gp=penalty, **extra_metrics)


class GradientPenaltyGAN(WassersteinGAN):
    """The critic kept Lipschitz by the gradient penalty on random interpolates (WGAN-GP)."""
    METRICS = ("d_loss", "g_loss", "w_distance", "gp")

    @classmethod
    def validate_config(cls, config):
        cls.check_choice(config, "norm", CRITIC_NORMS)

    def lipschitz_penalty(self, critic, real, fake):
        alpha = self.draw(keras.random.uniform, [tf.shape(real)[0], 1, 1, 1])  # uniform per sample
        return self.config.gp_weight * losses.gradient_penalty(critic, real, fake, alpha=alpha)

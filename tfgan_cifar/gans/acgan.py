"""AC-GAN (Odena et al., 2017): a class-conditional generator and a discriminator with two heads, real/fake
and a K-way classifier. Both networks also minimise the class cross-entropy (TF-GAN's ACGAN losses);
Adam(2e-4, beta1 0.5). The adversarial loss is the hinge by default (the paper's: BCE).

The levers of its quality, each a flag: --conditioning says how G takes the label: class-conditional batch
norm (cbn, the default: z enters whole, every BN gets a per-class scale and shift, as StudioGAN's conditional
generators do), multiplied into z as a learned embedding (the paper's and the seed recipe's) or concatenated
to it; --class_fake_weight scales D's class loss on generated images (1: the original; 0, the default: D's
classifier learns from real images only); --g_class_weight / --d_class_weight the class loss in G's and D's
objective; --class_loss=d2dce swaps the softmax classifier for ReACGAN's data-to-data cross-entropy (Kang et
al., 2021), --class_loss=tac adds TAC-GAN's twin classifier (Gong et al., 2019) and --class_loss=adc makes it
ADC-GAN's 2K-way classifier of real and generated classes (Hou et al., 2022); --mode_seeking_weight adds
MSGAN's term (Mao et al., 2019) that asks two latent vectors of one label for two images; --g_class_confidence=p
stops G's class loss on an image once D's classifier gives its label probability p; --minibatch_std=g gives D
ProGAN's minibatch standard deviation over groups of g images (Karras et al., 2018), of one class each with
--minibatch_std_by_class; --norm=spectral and
--loss=hinge|bce (hinge, the default) change D and the adversarial loss as in SN-GAN; --g_lr/--d_lr set TTUR.
--preset=seed is the seed reports' recipe (BCE, multiplied embedding, class loss on fakes), which collapses
within classes."""
import tensorflow as tf

from tfgan_cifar.lib import losses, networks
from tfgan_cifar.lib.errors import UsageError
from tfgan_cifar.lib.layers import class_grouped_order
from tfgan_cifar.gans import register
from tfgan_cifar.gans.base import GAN, LABEL, LATENT


@register("acgan")
class ACGAN(GAN):
    INPUTS = {"z": LATENT, "label": LABEL}
    # The default: the seed recipe with class-conditional BN in G, D's classifier trained on real images only
    # and the hinge loss (the small evaluator's pick of the levers; under the three judges FID alone calls that
    # better than the seed: docs/history.md, "ACGAN on CIFAR-10"), with DiffAugment (translation, cutout) on
    # every image D sees, so that D's classifier cannot memorise the training images (without it, its
    # real-image accuracy climbs while G collapses within classes; with it FID and SWD call the default better
    # than the seed, the saturated two-sample test a little worse), and both
    # rates held for the first half of the run and then falling linearly to 0, so that a longer run is not a
    # worse one. CIFAR-10, N = 10,000, three judges (docs/training.md, "Three times the epochs"): at a constant
    # rate 30 epochs scored worse than 10 on SWD (34.5 against 22.7), recall (0.29 / 0.41) and intra-class
    # diversity (0.36 / 0.50), and collapsed within classes at epochs 28-29; with the half-held rate 30 epochs
    # beat or tied 10 under every judge (FID 28.7 against 50.9, SWD 6.7 / 8.3, two-sample accuracy 0.994 / 0.998, class
    # accuracy 0.91 / 0.79; recall 0.40 / 0.43 and diversity a little lower), and at 10 epochs it beat the
    # constant rate under FID and SWD and tied under the two-sample test (50.9 / 55.0, 8.3 / 15.4, 0.998 / 0.999).
    PRESET = dict(GAN.PRESET, loss="hinge", norm="batch", class_loss="ce", class_fake_weight=0.0, g_class_weight=1.0,
                  d_class_weight=1.0, conditioning="cbn", diffaugment="translation,cutout", lr_decay="linear",
                  lr_decay_start=0.5, mode_seeking_weight=0.0, g_class_confidence=1.0, minibatch_std=0,
                  minibatch_std_by_class=False)
    # What runs saved before these flags existed did.
    PREDATED = dict(loss="bce", conditioning="multiply", class_fake_weight=1.0)
    # The demo's recipe (make demo): on `shapes`, half the width and twice the learning rates, held for the
    # first half and then decayed, and D's classifier trained on real images only. With the original
    # fake-image class loss, D learns to call a generated diamond in the "green square" row a green square,
    # which locks the row's confusion in. Measured (shapes evaluator, 2,560 samples; real images: FID 0.07,
    # accuracy 1.0): width 32 + rates, 4 epochs FID 7.04 / class accuracy 0.644, 6 epochs 3.04 / 0.652;
    # + class_fake_weight=0, 4 epochs 6.92 / 0.924, 5 epochs 2.68 / 0.982. The multiplied embedding stays here:
    # in 5 epochs on shapes (one simple shape per class) it beat class-conditional BN, FID 1.53 / accuracy
    # 0.968 against 8.59 / 0.954 (make demo, 2,560 samples; the cbn grid had ragged crosses and frames).
    # The zoo's 30 CPU-minutes (docs/history.md, "The zoo, lever by lever"): the default trained ~18 epochs in bfloat16 and
    # collapsed within classes at its 14th (recall 0.08; D's real-image class accuracy kept rising to 0.90,
    # i.e. its classifier memorised the training images). The same recipe with the rates falling linearly to
    # 0 over the whole budget takes about the steps of 9.5 epochs at full rate, where the default had FID
    # 1.23 / recall 0.65 after 10, and ends on small steps instead of a collapse: make zoo, 13,954 steps,
    # FID 2.16 / recall 0.66 / class accuracy 0.74 (the default's collapsed run: 7.41 / 0.08 / 0.55).
    # cpu_fast, demo and seed were measured without DiffAugment, and keep it off.
    NAMED_PRESETS = {"cpu_fast": dict(lr_decay="linear", lr_decay_start=0.0, precision="auto", diffaugment=""),
                     "demo": dict(width=32, g_lr=4e-4, d_lr=4e-4, lr_decay="linear", lr_decay_start=0.5,
                                  class_fake_weight=0.0, conditioning="multiply", loss="bce", epochs=5, diffaugment=""),
                     # The recipe of the seed reports (Odena et al.'s losses on the DCGAN networks).
                     "seed": dict(width=64, g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999, loss="bce", norm="batch",
                                  class_loss="ce", class_fake_weight=1.0, g_class_weight=1.0, d_class_weight=1.0,
                                  conditioning="multiply", diffaugment="", lr_decay="none", mode_seeking_weight=0.0,
                                  g_class_confidence=1.0, minibatch_std=0, minibatch_std_by_class=False)}
    METRICS = ("d_loss", "g_loss", "d_class_loss", "real_class_acc", "fake_class_acc")
    SUMMARY = ("hinge (or BCE) + auxiliary class cross-entropy, D's on real images (and fakes: --class_fake_weight; "
               "or ReACGAN's D2D-CE, or TAC-GAN's twin classifier, or ADC-GAN's real/generated classes; G's optional "
               "MSGAN mode-seeking term); G: class-conditional BN (or z x label embedding, or z ++ embedding); D: DCGAN "
               "(BN or spectral norm) + class head")

    @classmethod
    def validate_config(cls, config):
        cls.check_choice(config, "loss", tuple(losses.ADVERSARIAL))
        cls.check_choice(config, "norm", ("batch", "spectral", "none"))
        cls.check_choice(config, "class_loss", ("ce", "d2dce", "tac", "adc"))
        cls.check_choice(config, "conditioning", ("multiply", "concat", "cbn"))
        if config.class_loss == "adc" and config.class_fake_weight:
            raise UsageError("--class_loss=adc trains its classifier on generated images by definition (their own "
                             f"K classes); --class_fake_weight={config.class_fake_weight} would be ignored, leave "
                             "it at 0")
        if config.class_loss in ("adc", "d2dce") and config.g_class_confidence != 1.0:
            raise UsageError("--g_class_confidence caps the softmax cross-entropy of --class_loss=ce or tac; "
                             f"--class_loss={config.class_loss} has its own loss, leave it at 1")
        if config.minibatch_std_by_class and not config.minibatch_std:
            raise UsageError("--minibatch_std_by_class orders the groups of --minibatch_std; give it a group size "
                             "(e.g. --minibatch_std=4)")

    def build_generator(self):
        return networks.dcgan_generator(self.nz, self.image_size, self.config.width, num_classes=self.num_classes,
                                        condition=self.config.conditioning)

    def build_discriminator(self):
        # adc reads the twin head's two K-way outputs as one 2K-way classifier (real classes, then generated).
        head = {"d2dce": "proxy", "tac": "twin", "adc": "twin"}.get(self.config.class_loss, "softmax")
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm=self.config.norm,
                                            num_classes=self.num_classes, class_head=head,
                                            minibatch_std=self.config.minibatch_std)

    def discriminator_class_loss(self, real_head, fake_head, labels):
        """D's class loss: on real images, plus --class_fake_weight times that on generated ones (tac: plus
        the twin classifier's on generated ones; adc: ADC-GAN's 2K-way loss on both). A head is [class logits]
        (ce), [class logits, twin logits] (tac, adc) or [proxy cosines, embeddings] (d2dce)."""
        c = self.config
        if c.class_loss == "adc":
            return losses.adc_discriminator_class_loss(tf.concat(real_head, -1), tf.concat(fake_head, -1), labels,
                                                       self.num_classes)
        if c.class_loss == "d2dce":
            return (losses.data_to_data_cross_entropy(real_head[1], real_head[0], labels)
                    + c.class_fake_weight * losses.data_to_data_cross_entropy(fake_head[1], fake_head[0], labels))
        loss = losses.acgan_discriminator_class_loss(real_head[0], fake_head[0], labels, self.num_classes,
                                                     c.class_fake_weight)
        if c.class_loss == "tac":
            loss += losses.acgan_generator_class_loss(fake_head[1], labels, self.num_classes)
        return loss

    def generator_class_loss(self, fake_head, labels):
        """G's: the classifier's cross-entropy on its images, capped at --g_class_confidence (tac: minus the
        twin's, so G cannot lower the first by making classes easier to tell apart than the data's, the bias of
        AC-GAN that TAC-GAN removes; adc: ADC-GAN's, towards D's real class of the label and away from its
        generated one)."""
        if self.config.class_loss == "adc":
            return losses.adc_generator_class_loss(tf.concat(fake_head, -1), labels, self.num_classes)
        if self.config.class_loss == "d2dce":
            return losses.data_to_data_cross_entropy(fake_head[1], fake_head[0], labels)
        loss = losses.acgan_generator_class_loss(fake_head[0], labels, self.num_classes, self.config.g_class_confidence)
        if self.config.class_loss == "tac":
            loss -= losses.acgan_generator_class_loss(fake_head[1], labels, self.num_classes)
        return loss

    def train_step(self, data):
        real, labels = data
        batch, c = tf.shape(real)[0], self.config
        if c.minibatch_std_by_class:  # the fakes take the same labels, so their groups are of one class too
            order = class_grouped_order(labels, c.minibatch_std)
            real, labels = tf.gather(real, order), tf.gather(labels, order)
        d_adversarial, g_adversarial = losses.adversarial_pair(c.loss)
        fake = self.generate(self.sample_z(batch), labels, training=True)
        with tf.GradientTape() as tape:
            real_score, *real_head = self.discriminate(real)
            fake_score, *fake_head = self.discriminate(fake)
            class_loss = self.discriminator_class_loss(real_head, fake_head, labels)
            d_loss = d_adversarial(real_score, fake_score) + c.d_class_weight * class_loss
        self.step(self.d_optimizer, tape, d_loss, self.discriminator)

        with tf.GradientTape() as tape:
            z = self.sample_z(batch)
            fake = self.generate(z, labels, training=True)
            fake_score, *fake_head_g = self.discriminate(fake)
            g_loss = g_adversarial(fake_score) + c.g_class_weight * self.generator_class_loss(fake_head_g, labels)
            # A second draw of the same labels, seen by the mode-seeking term only (MSGAN's DCGAN code also shows
            # it to D: here that D pass is saved, and D sees one batch of fakes per step whatever the flag).
            if c.mode_seeking_weight:
                z_twin = self.sample_z(batch)
                twin = self.generate(z_twin, labels, training=True)
                g_loss += c.mode_seeking_weight * losses.mode_seeking_loss(fake, twin, z, z_twin)
        self.step(self.g_optimizer, tape, g_loss, self.generator)
        accuracy = lambda head: tf.reduce_mean(tf.cast(tf.equal(tf.argmax(head[0], -1, output_type=tf.int32),
                                                                tf.cast(labels, tf.int32)), tf.float32))
        return self.record(d_loss=d_loss, g_loss=g_loss, d_class_loss=class_loss,
                           real_class_acc=accuracy(real_head), fake_class_acc=accuracy(fake_head))

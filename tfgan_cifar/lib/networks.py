"""Generator and discriminator builders (Keras functional models).

Generators map z (and labels for conditional models) to float32 images in [-1, 1]; discriminators map
images (and labels) to unnormalised scores/logits. Output layers are float32 so mixed precision never
changes what the losses see.
"""
import math

import keras
from keras import layers

from tfgan_cifar.lib.layers import LatentPlanes, MinibatchStddev, ProxyCosine, sn

PROXY_EMBEDDING = 512  # ReACGAN's embedding size on CIFAR-10 (StudioGAN's d_embed_dim)


def init():
    """The DCGAN paper's N(0, 0.02) initialisation. A fresh instance per layer: a shared Keras 3 initializer
    draws the *same* values for every layer, and one made at import time ignores keras.utils.set_random_seed."""
    return keras.initializers.RandomNormal(0.0, 0.02)


def _levels(image_size):
    """Number of 2x up/down-sampling stages between 4x4 and image_size."""
    n = int(math.log2(image_size // 4))
    if 4 * 2 ** n != image_size:
        raise ValueError(f"image_size must be 4 * 2^k, got {image_size}")
    return n


def normalization(kind, name=None):
    """Critic/generator normalisation. 'instance' and 'layer' are per-sample, safe for gradient penalties."""
    if kind == "batch":
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)
    if kind == "layer":
        return layers.GroupNormalization(groups=1, epsilon=1e-5, name=name)  # over H, W and C
    if kind == "instance":
        return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)  # one group per channel
    if kind in (None, "none"):
        return layers.Identity(name=name)
    raise ValueError(f"unknown normalization {kind!r}")


def _unwrap(inputs):
    """A single-input model takes a tensor, not a one-element list (Keras warns otherwise)."""
    return inputs[0] if len(inputs) == 1 else inputs


def label_input():
    return keras.Input(shape=(), dtype="int32", name="label")


def conditioned_latent(z, label, num_classes, nz, how):
    """Combine z with a learned label embedding: 'multiply' (AC-GAN) or 'concat' (conditional GAN)."""
    embedding = layers.Flatten()(layers.Embedding(num_classes, nz, name="label_embedding")(label[:, None]))
    if how == "multiply":
        return layers.Multiply()([z, embedding])
    return layers.Concatenate()([z, embedding])


def label_channel(label, num_classes, image_size):
    """The label embedded as one extra image plane (conditional WGAN-GP critic)."""
    plane = layers.Embedding(num_classes, image_size * image_size, name="label_plane")(label[:, None])
    return layers.Reshape((image_size, image_size, 1))(plane)


def dcgan_generator(nz, image_size, width=64, num_classes=0, condition="concat", norm="batch", name="generator"):
    """DCGAN generator: project z to 4x4, then stride-2 transposed convs (BN + ReLU), tanh output.
    Channels halve per stage from width * 2^(stages-1) at 4x4 (64px: 512-256-128-64 for width 64).
    A label (num_classes > 0) enters as `condition`: 'multiply' or 'concat' with z (conditioned_latent), or
    'cbn': z alone is projected and every batch norm takes a per-class scale and shift."""
    from tfgan_cifar.lib.layers import ConditionalBatchNorm
    stages = _levels(image_size)
    z = keras.Input(shape=(nz,), name="z")
    inputs, h = [z], z
    norm_relu = lambda h: layers.ReLU()(normalization(norm)(h))
    if num_classes:
        label = label_input()
        inputs.append(label)
        if condition == "cbn":
            norm_relu = lambda h: layers.ReLU()(ConditionalBatchNorm(num_classes)([h, label]))
        else:
            h = conditioned_latent(z, label, num_classes, nz, condition)
    channels = width * 2 ** (stages - 1)
    h = layers.Dense(4 * 4 * channels, use_bias=False, kernel_initializer=init())(h)
    h = norm_relu(layers.Reshape((4, 4, channels))(h))
    for _ in range(stages - 1):
        channels //= 2
        h = norm_relu(layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False,
                                             kernel_initializer=init())(h))
    h = layers.Conv2DTranspose(3, 4, strides=2, padding="same", kernel_initializer=init())(h)
    out = layers.Activation("tanh", dtype="float32", name="image")(h)
    return keras.Model(_unwrap(inputs), out, name=name)


def dcgan_discriminator(image_size, width=64, norm="batch", num_classes=0, label_plane=False, class_head=False,
                        sketch_input=False, minibatch_std=0, name="discriminator"):
    """DCGAN discriminator: stride-2 convs with LeakyReLU(0.2), normalisation after all but the first (or
    norm='spectral': spectral norm on every layer), a linear score. Options: the label as an extra input
    plane (cgan), an auxiliary class head (acgan: class_head=True or "softmax" adds class logits, "twin"
    adds TAC-GAN's twin classifier's logits after them, "proxy" adds ReACGAN's head, the cosines to K class
    proxies and the 512-d embedding), a 1-channel
    sketch input stacked on the image (sketch2img), ProGAN's minibatch standard deviation over groups of
    `minibatch_std` images as a last feature map (0: none). Inputs: [image, (sketch), (label)]."""
    stages = _levels(image_size)
    image = keras.Input(shape=(image_size, image_size, 3), name="image")
    inputs, planes = [image], [image]
    if sketch_input:
        inputs.append(keras.Input(shape=(image_size, image_size, 1), name="sketch"))
        planes.append(inputs[-1])
    if label_plane:
        label = label_input()
        inputs.append(label)
        planes.append(label_channel(label, num_classes, image_size))
    h = layers.Concatenate()(planes) if len(planes) > 1 else image
    spectral = norm == "spectral"  # spectral norm on every layer instead of a normalisation layer (SN-DCGAN)
    if spectral:
        norm = None
    channels = width
    h = layers.LeakyReLU(0.2)(sn(layers.Conv2D(channels, 4, strides=2, padding="same", kernel_initializer=init()),
                                 spectral)(h))
    for _ in range(stages - 1):
        channels *= 2
        h = sn(layers.Conv2D(channels, 4, strides=2, padding="same", use_bias=norm in (None, "none"),
                             kernel_initializer=init()), spectral)(h)
        h = layers.LeakyReLU(0.2)(normalization(norm)(h))
    if minibatch_std:
        h = MinibatchStddev(minibatch_std)(h)
    h = layers.Flatten()(h)
    score = sn(layers.Dense(1, kernel_initializer=init(), dtype="float32", name="score"), spectral)(h)
    outputs = score
    if class_head == "proxy":
        embedding = sn(layers.Dense(PROXY_EMBEDDING, dtype="float32", name="class_embedding"), spectral)(h)
        outputs = [score, ProxyCosine(num_classes, dtype="float32", name="class_cosines")(embedding), embedding]
    elif class_head:
        outputs = [score, sn(layers.Dense(num_classes, dtype="float32", name="class_logits"), spectral)(h)]
        if class_head == "twin":  # TAC-GAN's second classifier, trained on generated images only
            outputs.append(sn(layers.Dense(num_classes, dtype="float32", name="twin_class_logits"), spectral)(h))
    return keras.Model(_unwrap(inputs), outputs, name=name)


LATENT_PLANES = 8  # sketch2img --noise=latent: dimensions of the per-image random vector


def unet_generator(image_size, width=64, num_classes=10, upsample="transpose", noise="dropout", name="generator"):
    """sketch2img's encoder-decoder (U-Net, as in pix2pix): the sketch and the label (an embedding
    broadcast as channels) are encoded by stride-2 convs (LeakyReLU, BN after the first) down to 4x4,
    then decoded by 2x upsampling (transposed conv, or bilinear + conv) with BN + ReLU, each stage
    concatenated with the encoder's features of the same size; tanh output. Noise: dropout in the two
    deepest decoder stages, or a Gaussian noise channel, both active in training only; or 'latent', a random
    vector per image as input planes, drawn in sampling too (one sketch, many images); or none."""
    stages = _levels(image_size)
    sketch, label = keras.Input(shape=(image_size, image_size, 1), name="sketch"), label_input()
    planes = [sketch, label_channel(label, num_classes, image_size)]
    if noise == "z":
        planes.append(layers.GaussianNoise(1.0)(keras.ops.zeros_like(sketch)))
    elif noise == "latent":
        planes.append(LatentPlanes(LATENT_PLANES)(sketch))
    h = layers.Concatenate()(planes)
    skips, channels = [], width
    for i in range(stages):
        h = layers.Conv2D(channels, 4, strides=2, padding="same", use_bias=i == 0, kernel_initializer=init())(h)
        h = layers.LeakyReLU(0.2)(h if i == 0 else normalization("batch")(h))
        skips.append(h)
        channels = min(channels * 2, width * 8)

    def up(x, filters):
        if upsample == "bilinear":
            x = layers.UpSampling2D(2, interpolation="bilinear")(x)
            return layers.Conv2D(filters, 3, padding="same", kernel_initializer=init())(x)
        return layers.Conv2DTranspose(filters, 4, strides=2, padding="same", kernel_initializer=init())(x)

    for i, skip in enumerate(reversed(skips[:-1])):
        h = normalization("batch")(up(h, skip.shape[-1]))
        if noise == "dropout" and i < 2:
            h = layers.Dropout(0.5)(h)
        h = layers.Concatenate()([layers.ReLU()(h), skip])
    out = layers.Activation("tanh", dtype="float32", name="image")(up(h, 3))
    return keras.Model([sketch, label], out, name=name)


def mlp_generator(nz, image_size, hidden=(256, 512, 1024), name="generator"):
    """Fully connected generator (the 'simple GAN' baseline)."""
    z = keras.Input(shape=(nz,), name="z")
    h = z
    for units in hidden:
        h = layers.LeakyReLU(0.2)(layers.Dense(units)(h))
    h = layers.Dense(image_size * image_size * 3)(h)
    out = layers.Activation("tanh", dtype="float32")(layers.Reshape((image_size, image_size, 3))(h))
    return keras.Model(z, out, name=name)


def mlp_discriminator(image_size, hidden=(1024, 512, 256), name="discriminator"):
    """Fully connected discriminator (the 'simple GAN' baseline)."""
    image = keras.Input(shape=(image_size, image_size, 3), name="image")
    h = layers.Flatten()(image)
    for units in hidden:
        h = layers.LeakyReLU(0.2)(layers.Dense(units)(h))
    return keras.Model(image, layers.Dense(1, dtype="float32")(h), name=name)


def sagan_generator(nz, image_size, width, num_classes, spectral_norm=True, attention_at=16, name="generator"):
    """Conditional SN-SAGAN generator: upsample + 3x3 conv stages with class-conditional batch norm and
    ReLU, self-attention at `attention_at` pixels, tanh output. 32px: 4x4x256 -> 8 -> 16 (attention) -> 32."""
    from tfgan_cifar.lib.layers import ConditionalBatchNorm, SelfAttention, sn
    stages = _levels(image_size)
    z, label = keras.Input(shape=(nz,), name="z"), label_input()
    channels = width * 2 ** (stages - 1)
    h = sn(layers.Dense(4 * 4 * channels), spectral_norm)(z)
    h = layers.Reshape((4, 4, channels))(h)
    resolution = 4
    for _ in range(stages):
        h = layers.ReLU()(ConditionalBatchNorm(num_classes)([h, label]))
        h = layers.UpSampling2D()(h)
        channels = max(channels // 2, width // 2)
        h = sn(layers.Conv2D(channels, 3, padding="same"), spectral_norm)(h)
        resolution *= 2
        if resolution == attention_at:
            h = SelfAttention(spectral_norm=spectral_norm)(h)
    h = layers.ReLU()(ConditionalBatchNorm(num_classes)([h, label]))
    h = sn(layers.Conv2D(3, 3, padding="same"), spectral_norm)(h)
    return keras.Model([z, label], layers.Activation("tanh", dtype="float32")(h), name=name)


def sagan_discriminator(image_size, width, num_classes, conditioning="projection", attention_at=16,
                        name="discriminator"):
    """Conditional SN-SAGAN discriminator: spectral norm on every layer, LeakyReLU(0.1), self-attention at
    `attention_at` pixels, global average pooling, a linear score plus the projection term <embed(y), phi(x)>
    ('projection') or the label as an extra input plane ('concat')."""
    from tfgan_cifar.lib.layers import Projection, SelfAttention, sn
    stages = _levels(image_size)
    image, label = keras.Input(shape=(image_size, image_size, 3), name="image"), label_input()
    h = image
    if conditioning == "concat":
        h = layers.Concatenate()([image, label_channel(label, num_classes, image_size)])
    channels, resolution = width, image_size
    for _ in range(stages):
        h = layers.LeakyReLU(0.1)(sn(layers.Conv2D(channels, 4, strides=2, padding="same"))(h))
        resolution //= 2
        if resolution == attention_at:
            h = SelfAttention(spectral_norm=True)(h)
        channels *= 2
    h = layers.LeakyReLU(0.1)(sn(layers.Conv2D(channels, 3, padding="same"))(h))
    features = layers.GlobalAveragePooling2D()(h)
    score = sn(layers.Dense(1, dtype="float32"))(features)
    if conditioning == "projection":
        score = layers.Add(dtype="float32")([score, Projection(num_classes, dtype="float32")([features, label])])
    return keras.Model([image, label], score, name=name)

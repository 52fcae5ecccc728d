"""Layers Keras does not ship: SAGAN's self-attention and class-conditional batch norm.
Spectral normalisation is Keras's own `layers.SpectralNormalization`, wrapped by `sn()`."""
import keras
from keras import layers, ops


def sn(layer, enabled=True):
    """Spectrally normalise `layer` (one power iteration per training call), or return it unchanged.
    Keras's layer rescales the kernel variable in place on each training call (W <- W / sigma(W)).
    Always float32: a power iteration in (b)float16 estimates sigma too coarsely to normalise by."""
    if not enabled:
        return layer
    layer.dtype_policy = "float32"
    return layers.SpectralNormalization(layer, power_iterations=1, dtype="float32")


class SelfAttention(layers.Layer):
    """Self-attention over spatial positions (Zhang et al., 2019, SAGAN):
    o = softmax(f(x)^T g(x)) h(x);  y = x + gamma * v(o), gamma initialised to 0.

    f and g use C/8 channels, h uses C/2 and v maps back to C, as in the SAGAN reference code.
    With gamma = 0 the layer is the identity at initialisation, so training starts from local convs.
    """

    def __init__(self, spectral_norm=True, **kwargs):
        super().__init__(**kwargs)
        self.spectral_norm = spectral_norm

    def build(self, input_shape):
        channels = input_shape[-1]
        conv = lambda c, name: sn(layers.Conv2D(c, 1, use_bias=False, name=name), self.spectral_norm)
        self.f = conv(max(channels // 8, 1), "f")
        self.g = conv(max(channels // 8, 1), "g")
        self.h = conv(max(channels // 2, 1), "h")
        self.v = conv(channels, "v")
        for part in (self.f, self.g, self.h):
            part.build(input_shape)
        self.v.build(tuple(input_shape[:-1]) + (max(channels // 2, 1),))
        self.gamma = self.add_weight(shape=(), initializer="zeros", trainable=True, name="gamma")

    def call(self, x, training=False):
        shape = ops.shape(x)
        n, hw = shape[0], shape[1] * shape[2]
        f = ops.reshape(self.f(x, training=training), (n, hw, -1))
        g = ops.reshape(self.g(x, training=training), (n, hw, -1))
        h = ops.reshape(self.h(x, training=training), (n, hw, -1))
        attention = ops.softmax(ops.matmul(f, ops.transpose(g, (0, 2, 1))), axis=-1)  # [n, hw, hw]
        o = ops.reshape(ops.matmul(attention, h), (n, shape[1], shape[2], -1))
        return x + ops.cast(self.gamma, x.dtype) * ops.cast(self.v(o, training=training), x.dtype)

    def get_config(self):
        return {**super().get_config(), "spectral_norm": self.spectral_norm}


class ConditionalBatchNorm(layers.Layer):
    """Batch norm whose scale and shift are looked up per class: y = gamma[c] * BN(x) + beta[c]."""

    def __init__(self, num_classes, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.bn = layers.BatchNormalization(momentum=momentum, epsilon=epsilon, center=False, scale=False)

    def build(self, input_shape):
        x_shape, _ = input_shape
        channels = x_shape[-1]
        self.bn.build(x_shape)
        self.gamma = layers.Embedding(self.num_classes, channels, embeddings_initializer="ones", name="gamma")
        self.beta = layers.Embedding(self.num_classes, channels, embeddings_initializer="zeros", name="beta")
        self.gamma.build((None,))
        self.beta.build((None,))

    def call(self, inputs, training=False):
        x, label = inputs
        gamma = ops.cast(self.gamma(label), x.dtype)[:, None, None, :]
        beta = ops.cast(self.beta(label), x.dtype)[:, None, None, :]
        return gamma * self.bn(x, training=training) + beta

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


class Projection(layers.Layer):
    """The class term of a projection discriminator (Miyato & Koyama, 2018): <embed(y), phi(x)>."""

    def __init__(self, num_classes, spectral_norm=True, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.spectral_norm = spectral_norm

    def build(self, input_shape):
        features, _ = input_shape
        # A bias-free Dense on one-hot labels is an embedding lookup. (Keras's SpectralNormalization casts
        # its output to the input dtype, so it cannot wrap an Embedding fed int32 labels.)
        self.embedding = sn(layers.Dense(features[-1], use_bias=False, name="class_embedding"), self.spectral_norm)
        self.embedding.build((None, self.num_classes))

    def call(self, inputs, training=False):
        features, label = inputs
        one_hot = ops.one_hot(label, self.num_classes, dtype=features.dtype)
        return ops.sum(self.embedding(one_hot, training=training) * features, axis=-1, keepdims=True)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "spectral_norm": self.spectral_norm}


keras.saving.get_custom_objects().update(
    {"SelfAttention": SelfAttention, "ConditionalBatchNorm": ConditionalBatchNorm, "Projection": Projection})

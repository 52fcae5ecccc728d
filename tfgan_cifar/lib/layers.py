"""Layers Keras does not ship: spectral normalisation as in the paper, SAGAN's self-attention,
class-conditional batch norm, the projection discriminator's class term, sketch2img's latent planes and ProGAN's
minibatch standard deviation."""
import keras
from keras import layers, ops

# The wrapped layer's weight that spectral normalisation divides by its largest singular value.
_KERNEL = {layers.Dense: "kernel", layers.Conv2D: "kernel", layers.Conv2DTranspose: "kernel",
           layers.Embedding: "embeddings"}


def sn(layer, enabled=True):
    """`layer` spectrally normalised (SpectralNorm, one power iteration per training call), or unchanged."""
    return SpectralNorm(layer) if enabled else layer


@keras.saving.register_keras_serializable(package="tfgan_cifar")
class SpectralNorm(layers.Wrapper):
    """Spectral normalisation of Miyato et al. (2018): the wrapped layer computes with W / sigma(W), where
    sigma(W) = u^T W v estimates W's largest singular value from a power-iteration vector u.

    Unlike Keras 3's `SpectralNormalization`, which on each training call assigns W / sigma back into the
    kernel and then differentiates the layer at that kernel (no gradient through sigma; keras-team/keras
    #19183, #20309), the raw W stays the trainable variable and the division happens inside the forward pass,
    so autodiff includes d sigma / d W = u v^T, and the optimizer updates the raw W. u is non-trainable
    state: training calls run `power_iterations` steps of the iteration (under stop_gradient, as in the
    paper) and store u; inference calls use the stored u and never change it. The normalisation runs in
    float32 under mixed precision (a bfloat16 power iteration estimates sigma too coarsely); the layer's
    own op then runs in its compute dtype.

    W is viewed as a matrix of out_channels x everything else, as in Miyato's code and StudioGAN (PyTorch's
    `spectral_norm`): Dense [in, out] and Conv2D [kh, kw, in, out] group the last axis, Conv2DTranspose
    [kh, kw, out, in] its third, Embedding [classes, dim] its first. (Grouping another axis, as Keras's
    layer does for transposed convs, normalises a different matrix.)"""

    def __init__(self, layer, power_iterations=1, eps=1e-12, **kwargs):
        if type(layer) not in _KERNEL:
            raise ValueError(f"SpectralNorm wraps {', '.join(t.__name__ for t in _KERNEL)}, not {type(layer).__name__}")
        # float32 and no autocasting, so W and u are read as float32 (a "mixed" policy would make Keras enter
        # an autocast scope even with autocast=False); the cast to the wrapped layer's compute dtype is explicit.
        kwargs.update(dtype="float32", autocast=False)
        super().__init__(layer, **kwargs)
        self.power_iterations, self.eps = power_iterations, eps
        self.out_axis = {layers.Conv2DTranspose: -2, layers.Embedding: 0}.get(type(layer), -1)

    def build(self, input_shape):
        super().build(input_shape)
        if getattr(self.layer, "data_format", "channels_last") != "channels_last":
            raise ValueError("SpectralNorm supports channels_last layers only")
        rows = self.kernel.shape[self.out_axis]
        self.u = self.add_weight(shape=(rows,), initializer=keras.initializers.RandomNormal(0.0, 1.0),
                                 trainable=False, dtype="float32", aggregation="only_first_replica", name="u")

    @property
    def kernel(self):
        """The raw (unnormalised) weight variable of the wrapped layer."""
        return getattr(self.layer, _KERNEL[type(self.layer)])

    def matrix(self, kernel):
        """The kernel as the out_channels x everything-else matrix."""
        kernel = ops.moveaxis(kernel, self.out_axis, 0)
        return ops.reshape(kernel, (ops.shape(kernel)[0], -1))

    def _normalize(self, x):
        return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), self.eps)

    def sigma(self, training=False):
        """u^T W v for the stored u (after `power_iterations` updates of it when training); differentiable
        in W, with u and v held constant."""
        w = self.matrix(ops.convert_to_tensor(self.kernel))
        u = ops.convert_to_tensor(self.u)
        w_const = ops.stop_gradient(w)
        for _ in range(self.power_iterations if training else 0):
            v = self._normalize(ops.matmul(u, w_const))  # W^T u
            u = self._normalize(ops.matmul(w_const, v))
        if training:
            self.u.assign(u)
        u = ops.stop_gradient(u)
        v = ops.stop_gradient(self._normalize(ops.matmul(u, w_const)))
        return ops.sum(u * ops.matmul(w, v))

    def normalized_kernel(self, training=False):
        return ops.convert_to_tensor(self.kernel) / self.sigma(training)

    def call(self, inputs, training=False):
        layer = self.layer
        kernel = ops.cast(self.normalized_kernel(training), layer.compute_dtype)
        if isinstance(layer, layers.Embedding):
            return ops.take(kernel, ops.cast(inputs, "int32"), axis=0)
        inputs = ops.cast(inputs, layer.compute_dtype)
        if isinstance(layer, layers.Dense):
            out = ops.matmul(inputs, kernel)
        elif isinstance(layer, layers.Conv2DTranspose):
            out = ops.conv_transpose(inputs, kernel, strides=list(layer.strides), padding=layer.padding,
                                     output_padding=layer.output_padding, dilation_rate=layer.dilation_rate,
                                     data_format=layer.data_format)
        else:
            out = layer.convolution_op(inputs, kernel)
        if layer.use_bias:
            out = ops.add(out, ops.cast(layer.bias, out.dtype))
        return layer.activation(out) if layer.activation is not None else out

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = {**super().get_config(), "power_iterations": self.power_iterations, "eps": self.eps}
        config.pop("dtype", None), config.pop("autocast", None)  # always float32 without autocasting
        return config


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
        self.embedding = sn(layers.Embedding(self.num_classes, features[-1], name="class_embedding"),
                            self.spectral_norm)
        self.embedding.build((None,))

    def call(self, inputs, training=False):
        features, label = inputs
        embedded = ops.cast(self.embedding(label, training=training), features.dtype)
        return ops.sum(embedded * features, axis=-1, keepdims=True)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "spectral_norm": self.spectral_norm}


class LatentPlanes(layers.Layer):
    """A fresh N(0, 1) vector per image, tiled over the input's height and width as `dims` extra planes: a
    generator without a z input gets its randomness in sampling as well as training (unlike dropout or
    GaussianNoise, which are off at inference). The seed's state is a variable, so a loaded export samples
    reproducibly from where it was saved."""

    def __init__(self, dims, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.dims, self.seed = dims, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, like):
        batch, height, width = ops.shape(like)[0], ops.shape(like)[1], ops.shape(like)[2]
        z = keras.random.normal((batch, 1, 1, self.dims), seed=self.seed_generator, dtype=like.dtype)
        return ops.broadcast_to(z, (batch, height, width, self.dims))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.dims,)

    def get_config(self):
        return {**super().get_config(), "dims": self.dims, "seed": self.seed}


class ProxyCosine(layers.Layer):
    """cos(e, v_c) of each embedding e [B, D] with each of K trainable class proxies v_c [K, D] -> [B, K]
    (ReACGAN's classifier: the class of a sample is its nearest proxy on the unit sphere)."""

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes

    def build(self, input_shape):
        self.proxies = self.add_weight(shape=(self.num_classes, input_shape[-1]), initializer="glorot_uniform",
                                       name="proxies")

    def call(self, embeddings):
        e = ops.normalize(embeddings, axis=-1)
        return ops.matmul(e, ops.transpose(ops.normalize(self.proxies, axis=-1)))

    def get_config(self):
        return dict(super().get_config(), num_classes=self.num_classes)


class MinibatchStddev(layers.Layer):
    """ProGAN's minibatch standard deviation (Karras et al., 2018, section 3; StyleGAN's grouped form): within each
    group of `group_size` images (image i with i + n/g, i + 2n/g, ...), the standard deviation of every feature over
    the group, averaged into one number, appended to each of the group's images as a constant feature map
    [B, H, W, C] -> [B, H, W, C + 1]. D then sees how varied a set of its inputs is, so a generator whose images of
    a batch look alike can be told apart by that alone. A batch that `group_size` does not divide is one group."""

    def __init__(self, group_size=4, **kwargs):
        super().__init__(**kwargs)
        self.group_size = group_size

    def call(self, x):
        shape = ops.shape(x)
        n = shape[0]
        g = ops.where(ops.equal(n % self.group_size, 0), self.group_size, n)
        y = ops.reshape(ops.cast(x, "float32"), (g, -1, shape[1], shape[2], shape[3]))
        y = ops.sqrt(ops.var(y, axis=0) + 1e-8)  # [n / g, H, W, C]: each feature's spread over its group
        y = ops.mean(y, axis=(1, 2, 3), keepdims=True)
        y = ops.tile(y, (g, shape[1], shape[2], 1))  # row j of the batch is group j mod n/g, as reshaped above
        return ops.concatenate([x, ops.cast(y, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return dict(super().get_config(), group_size=self.group_size)


def class_grouped_order(labels, group_size):
    """A permutation of a batch after which each of MinibatchStddev's groups (images j, j + n/g, j + 2n/g, ...)
    holds g consecutive images of the batch sorted by label -- one class wherever the class has g images there --
    so that the group's spread is a within-class one. A batch that g does not divide is left in its order (the
    layer then makes it one group)."""
    n = ops.shape(labels)[0]
    position = ops.arange(n, dtype="int32")
    by_label = ops.argsort(ops.cast(labels, "int32") * n + position)  # unique keys: a stable sort, same on any run
    grouped = lambda: ops.reshape(ops.transpose(ops.reshape(by_label, (-1, group_size))), (-1,))
    return ops.cond(ops.equal(n % group_size, 0), grouped, lambda: position)


keras.saving.get_custom_objects().update(
    {"SelfAttention": SelfAttention, "ConditionalBatchNorm": ConditionalBatchNorm, "Projection": Projection,
     "ProxyCosine": ProxyCosine, "MinibatchStddev": MinibatchStddev})

"""The strong evaluator: a CIFAR-10 classifier after Keller Jordan's airbench94 (94.01 % in 0.36 PFLOPs of
training), which builds on Page's "How to train your ResNet" line of work. What makes it fast, all kept:
- a first 2x2 convolution fixed to the whitening of the training images' patches (its eigenvectors, +-),
- three conv groups (conv, max-pool, BN, GELU, conv, BN, GELU) at widths 64/256/256, BN without scale,
- Nesterov SGD with a large rate on BN biases, decoupled weight decay, a triangular rate schedule,
- label smoothing 0.2, flip + 2-pixel reflect translation, and lookahead (weights pulled every 5 steps
  toward a slow copy, fully at the end),
- test-time flips and 1-pixel translations for its reported test accuracy.
Its 256-d pooled features are the FID/KID/precision/recall features; its logits give the class accuracy.
Images go in as float [-1, 1] like every network here; the model normalises them itself.
"""
import time

import keras
import numpy as np
import tensorflow as tf

WIDTHS = (64, 256, 256)
HYPER = dict(lr=11.5, momentum=0.85, weight_decay=0.0153, bias_scaler=64.0, label_smoothing=0.2,
             whiten_bias_epochs=3, warmup=0.23, final_lr=0.07, lookahead_every=5, translate=2,
             bn_momentum=0.6, stem_float32=True, alternate_flip=True)
WHITEN_EPS = 5e-4


def whitening_kernel(images_uint8, mean, std, size=2, eps=WHITEN_EPS):
    """[size, size, 3, 2 * 3 * size^2] kernel: the eigenvectors of the (uncentred) covariance of normalised
    size x size patches, each scaled by 1 / sqrt(eigenvalue + eps), then negated copies (airbench)."""
    x = (images_uint8.astype(np.float32) / 127.5 - 1.0 - mean) / std
    n, h, w, c = x.shape
    patches = np.stack([x[:, i:h - size + 1 + i, j:w - size + 1 + j] for i in range(size) for j in range(size)], 3)
    flat = patches.reshape(-1, size * size * c).astype(np.float64)  # (i, j, channel) order, as a Keras kernel
    eigenvalues, eigenvectors = np.linalg.eigh(flat.T @ flat / len(flat))
    filters = eigenvectors[:, ::-1] / np.sqrt(eigenvalues[::-1] + eps)  # largest first
    kernel = np.concatenate([filters, -filters], 1).reshape(size, size, c, -1)
    return kernel.astype(np.float32)


def torch_default(shape, rng):
    """PyTorch's default init of a conv or linear kernel, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (airbench keeps
    it; Keras's Glorot is about twice as wide, which weakens the identity part of `dirac`)."""
    bound = 1 / np.sqrt(np.prod(shape[:-1]))
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def dirac(kernel):
    """The kernel with its first in_channels filters set to the identity (a Dirac delta at the centre)."""
    w = np.array(kernel)
    kh, kw, cin, cout = w.shape
    for i in range(min(cin, cout)):
        w[:, :, :, i] = 0
        w[kh // 2, kw // 2, i, i] = 1
    return w


def build(image_size, num_classes, mean, std, whiten, features_name, seed=0, widths=WIDTHS,
          bn_momentum=HYPER["bn_momentum"], stem_float32=HYPER["stem_float32"]):
    """The network, initialised: `whiten` from whitening_kernel, `mean`/`std` per channel of [-1, 1] images;
    the pooled features are the layer `features_name`."""
    from keras import layers
    # The whitening filters of the smallest eigenvalues are ~45x gains on differences of neighbouring pixels:
    # computed in bfloat16 (8-bit mantissa) their rounding error reached 2 % of the stem's output (float32: 2e-7),
    # so the stem computes in float32 under any policy (2x2x3 -> 24 channels, a sliver of the cost).
    stem = dict(dtype="float32") if stem_float32 else {}

    def conv(channels):
        return layers.Conv2D(channels, 3, padding="same", use_bias=False)

    def norm():  # airbench's BatchNorm(momentum=0.6) passes PyTorch 1 - 0.6, which is Keras's 0.6; no learned scale
        return layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-12, scale=False)

    image = keras.Input((image_size, image_size, 3), name="image")
    h = layers.Normalization(mean=mean, variance=np.square(std), name="normalise", **stem)(image)
    h = layers.Conv2D(whiten.shape[-1], whiten.shape[0], name="whiten", trainable=False, use_bias=False, **stem)(h)
    h = layers.Activation("gelu", **stem)(WhitenBias(name="whiten_bias", **stem)(h))
    for channels in widths:
        h = layers.Activation("gelu")(norm()(layers.MaxPooling2D()(conv(channels)(h))))
        h = layers.Activation("gelu")(norm()(conv(channels)(h)))
    features = layers.GlobalMaxPooling2D(name=features_name)(h)
    logits = layers.Dense(num_classes, use_bias=False, name="head")(features)
    logits = layers.Rescaling(1 / 9, name="logits", dtype="float32")(logits)
    model = keras.Model(image, logits, name="airbench")
    model.get_layer("whiten").set_weights([whiten])
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D) and layer.name != "whiten":
            layer.set_weights([dirac(torch_default(layer.kernel.shape, rng))])
        elif isinstance(layer, layers.Dense):
            layer.set_weights([torch_default(layer.kernel.shape, rng)])
    return model


@keras.saving.register_keras_serializable("tfgan_cifar")
class WhitenBias(keras.layers.Layer):
    """The whitening convolution's bias, a layer of its own so that the frozen kernel stays frozen."""

    def build(self, shape):
        self.bias = self.add_weight(shape=(shape[-1],), initializer="zeros", name="bias")

    def call(self, x):
        return x + tf.cast(self.bias, x.dtype)


def translate_and_flip(images_uint8, rng, pad, flip=None):
    """Each image mirrored where `flip` is true (default: with probability 1/2) and shifted by up to `pad`
    pixels (reflect-padded)."""
    n, h, w, _ = images_uint8.shape
    flip = rng.random(n) < 0.5 if flip is None else flip
    out = np.where(flip[:, None, None, None], images_uint8[:, :, ::-1], images_uint8)
    padded = np.pad(out, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    dy, dx = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)
    for oy in range(2 * pad + 1):
        for ox in range(2 * pad + 1):
            pick = (dy == oy) & (dx == ox)
            out[pick] = padded[pick, oy:oy + h, ox:ox + w]
    return out


def alternating_flip(first_flip, order, epoch):
    """airbench's flips: a random half of the images (`first_flip`) mirrored in even epochs, the other half in
    odd ones, so that any two epochs running show each image both ways (random flips repeat a side half the
    time). `order`: the epoch's permutation of the images."""
    return first_flip[order] ^ bool(epoch % 2)


def lr_factor(step, total, warmup=HYPER["warmup"], final=HYPER["final_lr"]):
    """airbench's triangle: 0.2 -> 1 over the first `warmup` of the steps, then linearly down to `final`."""
    up = int(total * warmup)
    if step < up:
        return 0.2 + 0.8 * step / up
    return 1.0 + (final - 1.0) * (step - up) / max(total - up, 1)


def fit(train_images, train_labels, num_classes, epochs, batch_size, seed=0, policy="float32", hyper=HYPER,
        features_name="features", progress=True, widths=WIDTHS):
    """Train on uint8 images under the dtype `policy`; returns (the trained model in float32, seconds)."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    floats = train_images[:10000].astype(np.float32) / 127.5 - 1.0
    mean, std = floats.mean((0, 1, 2)), floats.std((0, 1, 2))
    args = (train_images.shape[1], num_classes, mean, std, whitening_kernel(train_images[:5000], mean, std),
            features_name, seed, widths, hyper["bn_momentum"], hyper["stem_float32"])
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = build(*args)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    seconds = _train(model, train_images, train_labels, num_classes, epochs, batch_size, rng, hyper, progress)
    # The judge computes in float32 on any machine: the trained weights in a float32 copy of the network.
    keras.mixed_precision.set_dtype_policy("float32")
    try:
        judge = build(*args)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    judge.set_weights(model.get_weights())
    return judge, seconds


def _train(model, train_images, train_labels, num_classes, epochs, batch, rng, hyper, progress):
    """airbench's loop: Nesterov SGD written out (two rate groups, PyTorch's coupled weight decay), lookahead."""
    momentum = hyper["momentum"]
    kilostep = 1024 * (1 + 1 / (1 - momentum))  # airbench: rates per example, independent of the momentum
    lr = hyper["lr"] / kilostep
    decay = hyper["weight_decay"] * batch / kilostep  # decoupled: the same shrink per step for every group
    variables = model.trainable_variables
    is_bn_bias = [("batch_normalization" in v.path and "beta" in v.path) for v in variables]
    rates = tf.constant([lr * hyper["bias_scaler"] if b else lr for b in is_bn_bias], tf.float32)
    is_whiten_bias = [("whiten_bias" in v.path) for v in variables]
    velocity = [tf.Variable(tf.zeros_like(v)) for v in variables]
    slow = [tf.Variable(v) for v in model.weights]  # lookahead's slow copy (BN statistics too)
    smoothing = hyper["label_smoothing"]

    @tf.function(jit_compile=False)
    def step(x, y, scale, whiten_bias_on):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            onehot = tf.one_hot(y, num_classes) * (1 - smoothing) + smoothing / num_classes
            loss = tf.reduce_sum(keras.losses.categorical_crossentropy(onehot, tf.cast(logits, tf.float32),
                                                                       from_logits=True))
        grads = tape.gradient(loss, variables)
        for i, (v, g, buf) in enumerate(zip(variables, grads, velocity)):
            if is_whiten_bias[i]:
                g = g * whiten_bias_on
            rate = rates[i] * scale
            g = g + decay / rates[i] * v  # PyTorch's coupled form with weight_decay = decay / rate
            buf.assign(momentum * buf + g)
            v.assign_sub(rate * (g + momentum * buf))
        return loss

    @tf.function
    def pull(alpha):  # lookahead: slow <- slow + (1 - alpha) (fast - slow); fast <- slow
        for s, w in zip(slow, model.weights):
            s.assign(alpha * s + (1 - alpha) * w)
            w.assign(s)

    steps_per_epoch = len(train_images) // batch
    total = epochs * steps_per_epoch
    first_flip = rng.random(len(train_images)) < 0.5
    start, done = time.perf_counter(), 0
    for epoch in range(epochs):
        order = rng.permutation(len(train_images))[:steps_per_epoch * batch]
        flip = alternating_flip(first_flip, order, epoch) if hyper["alternate_flip"] else None
        augmented = translate_and_flip(train_images[order], rng, hyper["translate"], flip)
        labels = train_labels[order]
        bar = keras.utils.Progbar(steps_per_epoch, unit_name="step") if progress else None
        if progress:
            print(f"epoch {epoch + 1}/{epochs}")
        for i in range(steps_per_epoch):
            x = tf.constant(augmented[i * batch:(i + 1) * batch].astype(np.float32) / 127.5 - 1.0)
            loss = step(x, tf.constant(labels[i * batch:(i + 1) * batch]), tf.constant(lr_factor(done, total)),
                        tf.constant(float(epoch < hyper["whiten_bias_epochs"])))
            done += 1
            if done % hyper["lookahead_every"] == 0:
                pull(tf.constant(0.95 ** 5 * (done / total) ** 3))
            if bar:
                bar.update(i + 1, [("loss", float(loss) / batch)])
    pull(tf.constant(1.0))
    return time.perf_counter() - start


def predict_logits(model, images_uint8, tta=True, batch_size=1000):
    """Logits of uint8 images; with `tta`, airbench's level 2: the mean over the image and its mirror, half
    weight, and over both at 1-pixel shifts up-left and down-right (reflect-padded), the other half."""
    forward = tf.function(lambda v: model(v, training=False))
    mirror = lambda v: 0.5 * (forward(v) + forward(v[:, :, ::-1]))
    out = []
    for i in range(0, len(images_uint8), batch_size):
        x = tf.constant(images_uint8[i:i + batch_size].astype(np.float32) / 127.5 - 1.0)
        if tta:
            logits = mirror(x)
            h, w = x.shape[1], x.shape[2]
            padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
            shifted = 0.5 * (mirror(padded[:, :h, :w]) + mirror(padded[:, 2:h + 2, 2:w + 2]))
            logits = 0.5 * logits + 0.5 * shifted
        else:
            logits = forward(x)
        out.append(np.asarray(logits, np.float32))
    return np.concatenate(out)

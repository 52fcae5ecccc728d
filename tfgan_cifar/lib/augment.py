"""DiffAugment (Zhao et al., 2020): differentiable augmentations applied to every image the
discriminator sees, real and generated, so D cannot memorise a small dataset while gradients still reach
G through the augmentation. Images are in [-1, 1]; all ops are plain TF and differentiable in the images.

Randomness comes from `uniform(shape)`, a callable giving U[0, 1) draws for this replica's images (the
GAN passes its checkpointed, replica-aware generator), so augmentations resume and distribute exactly.
"""
import tensorflow as tf

from tfgan_cifar.lib.errors import UsageError

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125  # shift by up to 1/8 of the image size, as in the paper
CUTOUT_RATIO = 0.5  # erase a square of half the image size


def parse_policy(text):
    """'color,translation' -> ('color', 'translation'); '' or 'none' -> ()."""
    if not text or text == "none":
        return ()
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise UsageError(f"--diffaugment: unknown policy {', '.join(unknown)}; choose from {', '.join(POLICIES)}")
    return names


def diff_augment(images, policy, uniform):
    for name in policy:
        images = AUGMENTATIONS[name](images, uniform)
    return images


def color(x, uniform):
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5), per image."""
    n = tf.shape(x)[0]
    x = x + (uniform([n, 1, 1, 1]) - 0.5)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * (uniform([n, 1, 1, 1]) * 2.0) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * (uniform([n, 1, 1, 1]) + 0.5) + mean


def translate(x, dy, dx):
    """Shift image b by (dy[b], dx[b]) pixels (down, right), filling with zeros: out[i, j] = x[i - dy, j - dx]."""
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    rows = tf.range(h)[None, :] - dy[:, None]  # [B, H]: source row of each output row
    cols = tf.range(w)[None, :] - dx[:, None]
    inside = (tf.cast((rows >= 0) & (rows < h), x.dtype)[:, :, None, None]
              * tf.cast((cols >= 0) & (cols < w), x.dtype)[:, None, :, None])
    x = tf.gather(x, tf.clip_by_value(rows, 0, h - 1), axis=1, batch_dims=1)
    x = tf.gather(x, tf.clip_by_value(cols, 0, w - 1), axis=2, batch_dims=1)
    return x * inside


def random_shift(uniform, n, size, ratio):
    """Integer shifts uniform in [-ratio*size, ratio*size]."""
    limit = int(size * ratio + 0.5)
    return tf.cast(tf.floor(uniform([n]) * (2 * limit + 1)), tf.int32) - limit


def translation(x, uniform):
    n, size = tf.shape(x)[0], x.shape[1]
    return translate(x, random_shift(uniform, n, size, TRANSLATION_RATIO), random_shift(uniform, n, size, TRANSLATION_RATIO))


def cutout(x, uniform):
    """Zero a square of CUTOUT_RATIO * size at a random centre (clipped at the borders), per image."""
    n, size = tf.shape(x)[0], x.shape[1]
    half = int(size * CUTOUT_RATIO + 0.5) // 2
    centre_y = tf.cast(tf.floor(uniform([n]) * size), tf.int32)
    centre_x = tf.cast(tf.floor(uniform([n]) * size), tf.int32)
    grid = tf.range(size)
    in_y = tf.abs(grid[None, :] - centre_y[:, None]) < half  # [B, H]
    in_x = tf.abs(grid[None, :] - centre_x[:, None]) < half
    erased = tf.cast(in_y[:, :, None] & in_x[:, None, :], x.dtype)[..., None]
    return x * (1.0 - erased)


AUGMENTATIONS = {"color": color, "translation": translation, "cutout": cutout}

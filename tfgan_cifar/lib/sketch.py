"""Sketches for sketch2img: an edge extractor in TF ops, user sketch files, and unpaired partners.

A sketch is float32 [N, H, W, 1] in [0, 1], 1 = stroke ("ink"), 0 = paper; stored as uint8 (x255).
"""
import os

import numpy as np

from tfgan_cifar.lib.errors import DataError, UsageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def edges(images, threshold=0.2, blur=False):
    """Sketch of float images in [-1, 1] [N, H, W, 3]: Sobel gradient magnitude of the luminance, scaled
    by each image's maximum, thresholded to strokes where it exceeds `threshold`; `blur` softens the
    strokes with a 3x3 binomial filter (hand-drawn lines are not one pixel sharp)."""
    import tensorflow as tf
    gray = tf.image.rgb_to_grayscale((tf.cast(images, tf.float32) + 1.0) / 2.0)
    sobel = tf.image.sobel_edges(gray)  # [N, H, W, 1, 2]: d/dy, d/dx
    magnitude = tf.sqrt(tf.reduce_sum(tf.square(sobel), axis=-1) + 1e-12)
    magnitude /= tf.reduce_max(magnitude, axis=[1, 2, 3], keepdims=True) + 1e-6
    strokes = tf.cast(magnitude > threshold, tf.float32)
    if blur:
        k = tf.constant([1.0, 2.0, 1.0])
        kernel = tf.reshape(tf.tensordot(k, k, axes=0) / 16.0, [3, 3, 1, 1])
        strokes = tf.clip_by_value(2.0 * tf.nn.conv2d(strokes, kernel, 1, "SAME"), 0.0, 1.0)
    return strokes


def sketches_of(images_uint8, threshold=0.2, blur=False, batch_size=1000):
    """uint8 sketches [N, H, W, 1] of uint8 images, computed in batches."""
    from tfgan_cifar.lib.images import to_float
    out = [np.round(edges(to_float(images_uint8[i:i + batch_size]), threshold, blur).numpy() * 255).astype(np.uint8)
           for i in range(0, len(images_uint8), batch_size)]
    return np.concatenate(out) if out else np.zeros((0,) + images_uint8.shape[1:3] + (1,), np.uint8)


def agreement(images_uint8, sketches, threshold=0.2, blur=False, tolerance=1):
    """How closely images follow their sketches (float [N, H, W, 1], 1 = stroke): the F1 of the images' own
    strokes (their edges, as training drew them) against the sketch's, pooled over all images; a stroke pixel
    counts as matched when the other has one within `tolerance` pixels. 1 = the same strokes."""
    return stroke_f1(sketches_of(images_uint8, threshold, blur) / 255.0, sketches, tolerance)


def stroke_f1(drawn, given, tolerance=1):
    """The F1 of the strokes of sketches `drawn` against those of `given` (both float [N, H, W, 1], 1 = stroke)."""
    drawn, given = np.asarray(drawn) >= 0.5, np.asarray(given) >= 0.5
    precision = np.sum(drawn & _within(given, tolerance)) / max(np.sum(drawn), 1)  # drawn strokes the sketch has
    recall = np.sum(given & _within(drawn, tolerance)) / max(np.sum(given), 1)  # sketch strokes that were drawn
    return float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0


def _within(mask, radius):
    """Pixels with a True pixel of `mask` [N, H, W, 1] within `radius` (a square neighbourhood)."""
    h, w = mask.shape[1:3]
    padded = np.pad(mask, ((0, 0), (radius, radius), (radius, radius), (0, 0)))
    return np.any([padded[:, dy:dy + h, dx:dx + w] for dy in range(2 * radius + 1) for dx in range(2 * radius + 1)],
                  axis=0)


def read_sketch(path):
    """One sketch file as float32 [H, W, 1] ink in [0, 1]; dark strokes on light paper are inverted."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            gray = np.asarray(im.convert("L"), np.float32) / 255.0
    except Exception as e:
        raise UsageError(f"cannot read sketch {path!r} ({type(e).__name__})")
    ink = 1.0 - gray if gray.mean() > 0.5 else gray
    return ink[..., None]


def read_sketches(path, size):
    """A sketch file or a folder of them -> (float32 [N, size, size, 1], file names). Wrong size: an error."""
    if os.path.isdir(path):
        names = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
        files = [os.path.join(path, f) for f in names]
        if not files:
            raise UsageError(f"no sketch images ({', '.join(IMAGE_EXTENSIONS)}) in {path!r}")
    elif os.path.isfile(path):
        files, names = [path], [os.path.basename(path)]
    else:
        raise UsageError(f"--sketch {path!r} is neither a file nor a folder")
    sketches = []
    for f in files:
        s = read_sketch(f)
        if s.shape[:2] != (size, size):
            raise UsageError(f"sketch {f!r} is {s.shape[1]}x{s.shape[0]}; this model takes {size}x{size} sketches")
        sketches.append(s)
    return np.stack(sketches), names


def sketches_from_folder(sketch_dir, split, image_set, image_size):
    """User sketches mirroring the image folder (<sketch_dir>/<class>/<same file name>), aligned with
    image_set's order. The folder loader keeps file order, so names are matched by class and position."""
    from tfgan_cifar.lib import data
    sketch_set = data.load(f"folder:{sketch_dir}", split, image_size=image_size)
    if len(sketch_set) != len(image_set) or not np.array_equal(sketch_set.labels, image_set.labels):
        raise DataError(f"--sketch_dir {sketch_dir!r} does not mirror the image folder: {len(sketch_set)} sketches "
                        f"for {len(image_set)} images (expected the same class folders and file names)")
    gray = sketch_set.images.astype(np.float32).mean(axis=-1, keepdims=True) / 255.0
    ink = np.where(gray.mean(axis=(1, 2, 3), keepdims=True) > 0.5, 1.0 - gray, gray)
    return np.round(ink * 255).astype(np.uint8)


def attach(image_set, split, config):
    """image_set with its sketches: from --sketch_dir, or the edges of its images."""
    import dataclasses
    if config.sketch_dir:
        sketches = sketches_from_folder(config.sketch_dir, split, image_set, config.image_size)
    else:
        sketches = sketches_of(image_set.images, config.edge_threshold, config.edge_blur)
    return dataclasses.replace(image_set, extra=sketches)

"""Datasets as in-memory uint8 arrays (read by lib/sources.py), the reference part the metrics compare with,
and one tf.data pipeline that feeds every model.

Sources (`--dataset`):
  shapes       built-in procedural 32x32 images, 10 classes, deterministic from a seed (offline default)
  cifar10      TFDS, else the official python format in --data_dir (cifar-10-batches-py/ or the .tar.gz)
  folder:PATH  class sub-folders of PNG/JPEG images (PATH/train and PATH/test are used when present)
"""
import hashlib

import numpy as np

from tfgan_cifar.lib.errors import DataError, UsageError
from tfgan_cifar.lib.images import to_float
# The sources (lib/sources.py), also reachable as data.<name> for the commands and tests that read one directly.
from tfgan_cifar.lib.sources import (CIFAR10_CLASSES, SHAPES_CLASSES, ImageSet, load_cifar10,  # noqa: F401
                                     load_cifar10_python, load_folder, make_shapes, resize_uint8)


def parse_dataset(spec):
    """'shapes' | 'cifar10' | 'folder:PATH' -> (kind, path). Raises UsageError otherwise."""
    if spec in ("shapes", "cifar10"):
        return spec, None
    if spec.startswith("folder:") and len(spec) > len("folder:"):
        return "folder", spec[len("folder:"):]
    raise UsageError(f"unknown dataset {spec!r}; use shapes, cifar10 or folder:PATH")


KNOWN_CLASSES = {"shapes": SHAPES_CLASSES, "cifar10": CIFAR10_CLASSES}  # a folder's are its sub-folders


def check_classes(spec, classes, class_names):
    bad = [c for c in classes or () if c >= len(class_names)]
    if bad:
        raise UsageError(f"--classes {bad} out of range: {spec} has classes 0..{len(class_names) - 1}")


def load(spec, split="train", data_dir="data", image_size=32, classes=None, examples=20000, seed=0):
    """Load a split as an ImageSet at `image_size`, restricted to `classes` (original label ids kept)."""
    kind, path = parse_dataset(spec)
    if kind in KNOWN_CLASSES:  # a bad --classes is refused before the images are drawn or read
        check_classes(spec, classes, KNOWN_CLASSES[kind])
    if kind == "shapes":
        n = examples if split == "train" else max(examples // 5, 1000)
        data = make_shapes(n, seed=seed * 2 + (split != "train"))  # disjoint seeds for train and test
    elif kind == "cifar10":
        data = load_cifar10(split, data_dir)
    else:
        data = load_folder(path, split, image_size)
    outside = np.unique(data.labels[(data.labels < 0) | (data.labels >= len(data.class_names))])
    if len(outside):
        raise DataError(f"{spec} ({split}) has labels outside 0..{len(data.class_names) - 1}: "
                        f"{', '.join(map(str, outside[:5]))}{' ...' if len(outside) > 5 else ''}")
    if classes is not None:
        check_classes(spec, classes, data.class_names)
        keep = np.isin(data.labels, classes)
        data = ImageSet(data.images[keep], data.labels[keep], data.class_names)
    if len(data) == 0:
        raise DataError(f"{spec} ({split}) has no images for the chosen classes")
    return data


# The metrics' real reference is one image in REFERENCE_SHARE of a train split, chosen by a hash of its pixels;
# the evaluator trains on the others. So the evaluator has seen neither the reference nor the test split (the
# real floor): trained on the reference, it made held-out real images score worse than the reference on KID,
# precision and recall (CIFAR-10: KID 0.908 for test images, 0.001 for train images it had seen).
REFERENCE_SHARE = 5


def reference_mask(images_uint8):
    """True for the images of the reference part: a pure function of each image's pixels, so the part is the
    same whatever classes or loader picked the images (and identical images fall in the same part)."""
    digest = lambda image: hashlib.blake2b(image.tobytes(), digest_size=8).digest()
    return np.array([int.from_bytes(digest(im), "little") % REFERENCE_SHARE == 0 for im in images_uint8], bool)


def reference_part(data):
    """The train split's images the metrics compare with (never seen by the evaluator)."""
    keep = reference_mask(data.images)
    return ImageSet(data.images[keep], data.labels[keep], data.class_names)


def evaluator_part(data):
    """The train split's images the evaluator learns from: all but the reference part."""
    keep = ~reference_mask(data.images)
    return ImageSet(data.images[keep], data.labels[keep], data.class_names)


def random_subset(data, n, seed=0):
    """Up to n images drawn uniformly without replacement (files such as CIFAR-10's test batch may be
    ordered by class, so a prefix is not a fair sample)."""
    keep = np.sort(np.random.default_rng(seed).permutation(len(data))[:n])
    return ImageSet(data.images[keep], data.labels[keep], data.class_names)



PIPELINE_DEPTH = 2  # batches gathered in parallel, and batches prefetched


def make_pipeline(data, batch_size, image_size=32, shuffle=True, seed=0, repeat=False, drop_remainder=True,
                  cache=True, start_step=0, extra_from_same_class=False):
    """A tf.data pipeline of (images float32 [-1, 1] [B, S, S, 3], labels int32 [B]), plus `data.extra` as
    float32 [0, 1] when it is set: each image's own, or with `extra_from_same_class` the extra of another
    image of the same class (drawn afresh for every batch; sketch2img's unpaired sketches).

    The arrays live in memory (that is the cache); with cache=True a resize to image_size is done once
    up front, otherwise per batch. Shuffling permutes indices and gathers whole batches, which is far
    faster than shuffling image tensors one by one.

    Pass p over the data uses the permutation seeded by (seed, p), so the stream of batches is a pure
    function of (seed, batch number): `start_step=k` (with repeat) starts at the k-th batch of the
    stream, which is how a resumed run continues from its exact data position.
    """
    import tensorflow as tf

    images = resize_uint8(data.images, image_size) if cache else data.images
    images, labels = tf.constant(images), tf.constant(data.labels, tf.int32)
    n = len(data)
    per_pass = n // batch_size if drop_remainder else -(-n // batch_size)
    if per_pass == 0:  # a repeated stream of empty passes would spin forever without yielding a batch
        raise UsageError(f"{n} images make no full batch of {batch_size}: use a smaller --batch_size or more images")
    first_pass, skip = divmod(start_step, max(per_pass, 1)) if repeat else (0, 0)

    def gather(idx):
        batch = to_float(tf.gather(images, idx))
        if batch.shape[1] != image_size:
            batch = tf.image.resize(batch, (image_size, image_size), antialias=True)
        return batch, tf.gather(labels, idx)

    if data.extra is not None:
        extra = tf.constant(data.extra)
        members, counts, position = (tf.constant(a) for a in class_members(data.labels))
        plain_gather = gather

        def gather(idx, step):
            batch, batch_labels = plain_gather(idx)
            if extra_from_same_class:  # the partner draw is a function of (seed, step), like the data order
                uniform = tf.random.stateless_uniform(tf.shape(idx), seed=tf.stack([tf.constant(seed, tf.int64), step]))
                idx = partners(idx, labels, members, counts, position, uniform)
            return batch, batch_labels, tf.cast(tf.gather(extra, idx), tf.float32) / 255.0

    def batches_of_pass(p):
        order = tf.range(n, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(order, seed=tf.stack([tf.constant(seed, tf.int64), p]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)

    passes = tf.data.Dataset.range(first_pass, 2**62 if repeat else first_pass + 1)
    ds = passes.flat_map(batches_of_pass).skip(skip)  # skipping index batches is cheap: no gather yet
    if data.extra is not None:
        ds = tf.data.Dataset.zip(ds, tf.data.Dataset.range(start_step, 2**62))
    ds = ds.map(gather, num_parallel_calls=PIPELINE_DEPTH, deterministic=True)
    options = tf.data.Options()
    # Under tf.distribute each worker builds the same stream and takes its share of every global batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    # No autotuning: its background thread wakes at 10 ms, 20 ms, 40 ms, ... after the iterator is made, and
    # deleting the iterator (the end of every `fit`) waits for the next wake-up -- measured here, a 4.8 s fit
    # returned at 5.12 s, a 10.7 s one at 20.48 s. Fixed depths suffice: gathering a batch is ~600x faster
    # than a train step (make bench).
    options.autotune.enabled = False
    return ds.with_options(options).prefetch(PIPELINE_DEPTH)


def class_members(labels):
    """(members [K, M] int64 indices padded with -1, counts [K], position of each index in its class)."""
    labels = np.asarray(labels)
    k = int(labels.max()) + 1 if len(labels) else 0
    counts = np.bincount(labels, minlength=k)
    members = -np.ones((k, max(int(counts.max(initial=0)), 1)), np.int64)
    position = np.zeros(len(labels), np.int64)
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        members[c, :len(idx)] = idx
        position[idx] = np.arange(len(idx))
    return members, counts, position


def partners(idx, labels, members, counts, position, uniform):
    """For each index, another index of the same class (itself only when its class has one image),
    chosen uniformly among the others: (position + 1 + floor(u * (count - 1))) mod count. TF ops."""
    import tensorflow as tf
    label = tf.gather(labels, idx)
    count = tf.cast(tf.gather(counts, label), tf.int64)
    offset = 1 + tf.cast(tf.floor(uniform * tf.cast(tf.maximum(count - 1, 1), tf.float32)), tf.int64)
    offset = tf.where(count > 1, offset, 0)
    slot = (tf.gather(position, idx) + offset) % tf.maximum(count, 1)
    return tf.gather_nd(members, tf.stack([tf.cast(label, tf.int64), slot], axis=1))

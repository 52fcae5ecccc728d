"""Where images come from, as in-memory uint8 ImageSets: the built-in procedural `shapes`, CIFAR-10 (the
official python batches, safely unpickled, or TFDS), and folders of class sub-folders; lib/data.py picks one
by --dataset and feeds it to the model.
"""
import dataclasses
import functools
import io
import logging
import os
import pickle
import tarfile
from typing import Optional

import numpy as np

from tfgan_cifar.lib.errors import DataError
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SHAPES_CLASSES = ("red disc", "green square", "blue triangle", "yellow ring", "magenta plus",
                  "cyan bars", "orange diamond", "white cross", "purple frame", "lime ellipse")
CIFAR_HOST = "www.cs.toronto.edu"  # where TFDS downloads cifar10 from
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
CIFAR_HOWTO = ("get CIFAR-10 one of these ways: (1) go online so TFDS can download it into --data_dir; "
               "(2) download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz into --data_dir "
               "(extracted or not); (3) offline, if you have this project's shared copy: "
               "python ../shared/cifar10/to_batches.py DATA_DIR, then --data_dir=DATA_DIR")


@dataclasses.dataclass
class ImageSet:
    images: np.ndarray  # uint8 [N, H, W, 3]
    labels: np.ndarray  # int32 [N]
    class_names: tuple
    # A per-image uint8 array [N, H, W, C] a variant needs beside the image (sketch2img's sketches): set by the
    # variant's prepare_data, yielded by make_pipeline as float32 [0, 1] after (images, labels).
    extra: Optional[np.ndarray] = None

    def __len__(self):
        return len(self.labels)


# --------------------------------------------------------------------------------------------- shapes

@functools.lru_cache(maxsize=4)  # make eval / the zoo load a split more than once per process; a pure function
def make_shapes(n, seed=0, size=32):
    """n procedurally drawn images: class = shape x colour, with position/size/colour jitter and a
    textured background. Deterministic for a given (n, seed); the arrays are read-only (they are shared)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    # Drawn in float64 (the random stream of earlier versions), composed in float32: 2.6x faster, and the
    # images differ from float64 composition in 5 pixels in a million, by 1.
    f32 = lambda a: a.astype(np.float32)
    cx = f32(rng.uniform(0.35, 0.65, (n, 1, 1)) * size)
    cy = f32(rng.uniform(0.35, 0.65, (n, 1, 1)) * size)
    r = f32(rng.uniform(0.2, 0.3, (n, 1, 1)) * size)
    colours = np.array([[220, 40, 40], [40, 200, 60], [50, 80, 230], [235, 220, 40], [220, 50, 220],
                        [40, 220, 230], [245, 140, 30], [240, 240, 240], [140, 60, 200], [170, 240, 60]],
                       np.float32)
    colour = f32(colours[labels] * rng.uniform(0.85, 1.1, (n, 1)) + rng.normal(0, 10, (n, 3)))
    # Background: a dim random gradient plus fine noise, so the discriminator cannot win on flat fields.
    base = f32(rng.uniform(10, 70, (n, 1, 1, 3)))
    slope = f32(rng.uniform(-1.2, 1.2, (n, 1, 1, 2)))
    noise = rng.normal(0, 6, (n, size, size, 1))
    images = np.empty((n, size, size, 3), np.uint8)
    for s in range(0, n, 1024):  # drawn above, composed in slices: whole-set temporaries made it 3x slower
        k = slice(s, s + 1024)
        dx, dy = (xx - cx[k]) / r[k], (yy - cy[k]) / r[k]  # coordinates in units of the shape's radius
        mask = np.empty(dx.shape, np.float32)
        for c in range(10):  # each class's signed distance, only for that class's images
            i = labels[k] == c
            mask[i] = np.clip(_SHAPES[c](dx[i], dy[i]) * r[k][i] + 0.5, 0.0, 1.0)  # anti-aliased edge
        grad = slope[k, ..., :1] * (xx - size / 2)[..., None] + slope[k, ..., 1:] * (yy - size / 2)[..., None]
        background = base[k] + grad + f32(noise[k])
        images[k] = np.clip(background * (1 - mask[..., None]) + colour[k, None, None, :] * mask[..., None], 0, 255)
    labels = labels.astype(np.int32)
    images.flags.writeable = labels.flags.writeable = False
    return ImageSet(images, labels, SHAPES_CLASSES)


def _rot(dx, dy):
    return (dx + dy) / np.sqrt(2), (dx - dy) / np.sqrt(2)


def _plus(dx, dy, arm=0.3):
    return np.maximum(np.minimum(arm - abs(dx), 1 - abs(dy)), np.minimum(arm - abs(dy), 1 - abs(dx)))


# Signed distance to each class's shape in radius units (> 0 inside), in SHAPES_CLASSES order.
_SHAPES = [
    lambda dx, dy: 1 - np.hypot(dx, dy),
    lambda dx, dy: 0.85 - np.maximum(abs(dx), abs(dy)),
    lambda dx, dy: np.minimum(0.8 - dy, (dy + 1) * 0.6 - abs(dx)),
    lambda dx, dy: np.minimum(1 - np.hypot(dx, dy), np.hypot(dx, dy) - 0.55),
    lambda dx, dy: _plus(dx, dy),
    lambda dx, dy: np.minimum(np.minimum(0.9 - abs(dy), 0.9 - abs(dx)), 0.15 - abs(abs(dx) - 0.55)),
    lambda dx, dy: 1.1 - (abs(dx) + abs(dy)),
    lambda dx, dy: _plus(*_rot(dx, dy), arm=0.25),
    lambda dx, dy: np.minimum(0.9 - np.maximum(abs(dx), abs(dy)), np.maximum(abs(dx), abs(dy)) - 0.6),
    lambda dx, dy: 1 - np.hypot(dx / 1.3, dy / 0.6),
]


# --------------------------------------------------------------------------------------------- cifar10

class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles the official CIFAR-10 batches, which hold only dicts, lists, bytes and numpy arrays.
    Any other global (os.system, eval, ...) is refused, so a crafted file cannot run code."""
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise DataError(f"refusing to unpickle {module}.{name}: not a CIFAR-10 batch file")


def unpickle_batch(blob, name="batch"):
    try:
        batch = RestrictedUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except DataError:
        raise
    except Exception as e:  # truncated or garbled file
        raise DataError(f"{name} is not a readable CIFAR-10 batch ({type(e).__name__}: {e})")
    if not isinstance(batch, dict):
        raise DataError(f"{name} is not a CIFAR-10 batch (no dict inside)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _decode_batches(blobs):
    """blobs: list of (name, bytes) -> (images uint8 NHWC, labels int32)."""
    images, labels = [], []
    for name, blob in blobs:
        batch = unpickle_batch(blob, name)
        try:
            data = _pixels(np.asarray(batch["data"]), name).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            lab = np.asarray(batch["labels"], np.int32)
        except (KeyError, ValueError, TypeError) as e:
            raise DataError(f"{name} is not a CIFAR-10 batch ({type(e).__name__}: {e})")
        if len(data) != len(lab):
            raise DataError(f"{name}: {len(data)} images but {len(lab)} labels")
        images.append(data)
        labels.append(lab)
    return np.concatenate(images), np.concatenate(labels)


def _pixels(data, name):
    """A batch's `data` as the format says: uint8 rows of 3,072 values. Floats in [0, 1] are taken as
    intensities and scaled to 0..255 with a warning; anything else is refused (a plain cast would turn it
    into a set of black images)."""
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{name}: 'data' must hold rows of 3,072 values (32x32x3), got shape {data.shape}")
    if data.dtype == np.uint8:
        return data
    if np.issubdtype(data.dtype, np.floating) and np.all(np.isfinite(data)) and data.min() >= 0 and data.max() <= 1:
        logging.warning("%s: 'data' is %s in [0, 1], not uint8; scaled to 0..255", name, data.dtype)
        return np.round(data * 255).astype(np.uint8)
    if np.issubdtype(data.dtype, np.integer) and data.min() >= 0 and data.max() <= 255:
        return data.astype(np.uint8)
    raise DataError(f"{name}: 'data' must be uint8 (0..255) as in the CIFAR-10 python format, got {data.dtype} in "
                    f"[{data.min()}, {data.max()}]")


def _batch_names(split):
    return [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]


def load_cifar10_python(root, split):
    """Read the official python format from `root` (holding cifar-10-batches-py/ or the .tar.gz)."""
    names = _batch_names(split)
    folder = next((d for d in (os.path.join(root, "cifar-10-batches-py"), root)
                   if all(os.path.exists(os.path.join(d, n)) for n in names)), None)
    partial = os.path.join(root, "cifar-10-batches-py")
    if folder is None and os.path.isdir(partial):
        missing = [n for n in names if not os.path.exists(os.path.join(partial, n))]
        raise DataError(f"{partial} is incomplete: {', '.join(missing)} missing; restore the file(s) or write the "
                        f"folder again")
    if folder:
        blobs = []
        for n in names:
            with open(os.path.join(folder, n), "rb") as f:
                blobs.append((os.path.join(folder, n), f.read()))
        return _decode_batches(blobs)
    archive = os.path.join(root, "cifar-10-python.tar.gz")
    if os.path.exists(archive):
        try:
            with tarfile.open(archive, "r:gz") as tar:  # read members in memory: nothing is extracted
                blobs = [(f"{archive}:{n}", tar.extractfile(f"cifar-10-batches-py/{n}").read()) for n in names]
        except (tarfile.TarError, KeyError, OSError, EOFError) as e:
            raise DataError(f"{archive} is unreadable or incomplete ({e}); delete it and download again")
        return _decode_batches(blobs)
    return None


def _reachable(host, port=443, timeout=3.0):
    import socket
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _load_cifar10_tfds(split, data_dir, download):
    import tensorflow_datasets as tfds
    images, labels = tfds.as_numpy(tfds.load("cifar10", split=split, data_dir=os.path.join(data_dir, "tfds"),
                                             batch_size=-1, as_supervised=True, download=download))
    return images.astype(np.uint8), labels.astype(np.int32)


def load_cifar10(split, data_dir):
    """TFDS's prepared copy if present, else the official python files in data_dir, else a TFDS download."""
    arrays = None
    if os.path.isdir(os.path.join(data_dir, "tfds", "cifar10")):  # probing otherwise creates empty folders
        try:
            arrays = _load_cifar10_tfds(split, data_dir, download=False)
        except Exception:  # not fully prepared: fall through to local files, then to the download
            pass
    if arrays is None:
        arrays = load_cifar10_python(data_dir, split)
    if arrays is None:
        # TFDS retries for minutes without a network; a 3-second probe of its download host fails fast.
        reason = None if _reachable(CIFAR_HOST) else f"no connection to {CIFAR_HOST}"
        if reason is None:
            try:
                arrays = _load_cifar10_tfds(split, data_dir, download=True)
            except Exception as e:
                reason = f"TFDS download failed: {type(e).__name__}"
        if arrays is None:
            raise DataError(f"cannot load cifar10 ({reason}) and {data_dir!r} has no cifar-10-batches-py/ or "
                            f"cifar-10-python.tar.gz; {CIFAR_HOWTO}")
    return ImageSet(arrays[0], arrays[1], CIFAR10_CLASSES)


# --------------------------------------------------------------------------------------------- folder

def load_folder(path, split, image_size):
    """Class sub-folders of images, resized to image_size. PATH/train and PATH/test are used as splits
    when present; otherwise a deterministic 10% of each class is the test split."""
    from PIL import Image

    if not os.path.isdir(path):
        raise DataError(f"dataset folder {path!r} does not exist")
    has_splits = os.path.isdir(os.path.join(path, "train")) and os.path.isdir(os.path.join(path, "test"))
    root = os.path.join(path, split) if has_splits else path
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not classes:
        raise DataError(f"{root!r} has no class sub-folders (expected {root}/<class>/<image>.png)")
    images, labels, skipped = [], [], 0
    for label, name in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(root, name)) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not has_splits:  # every 10th file is held out
            files = [f for i, f in enumerate(files) if (i % 10 == 9) == (split == "test")]
        for f in files:
            try:
                with Image.open(os.path.join(root, name, f)) as im:
                    im = im.convert("RGB")
                    if im.size != (image_size, image_size):
                        im = im.resize((image_size, image_size), Image.BILINEAR)
                    images.append(np.asarray(im, np.uint8))
                    labels.append(label)
            except Exception:  # truncated, corrupt or not an image
                skipped += 1
    if skipped:
        logging.warning("skipped %d unreadable image file(s) under %s", skipped, root)
    if not images:
        raise DataError(f"no readable images under {root!r} (skipped {skipped} unreadable file(s))")
    return ImageSet(np.stack(images), np.asarray(labels, np.int32), tuple(classes))


# --------------------------------------------------------------------------------------------- pipeline

def resize_uint8(images, size):
    """uint8 images resized (antialiased) to size x size; unchanged when already that size."""
    if images.shape[1] == size:
        return images
    import tensorflow as tf
    resized = tf.image.resize(tf.constant(images), (size, size), antialias=True)
    return tf.cast(tf.round(tf.clip_by_value(resized, 0, 255)), tf.uint8).numpy()

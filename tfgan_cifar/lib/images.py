"""The image converters (uint8 <-> the networks' [-1, 1] floats), grids and atomic file writes (a crash
mid-write never leaves a half-written file)."""
import os
import tempfile

import numpy as np


def to_float(images_uint8):
    """uint8 [0, 255] -> float32 [-1, 1] (the generator's tanh range), as a tensor."""
    import tensorflow as tf
    return tf.cast(images_uint8, tf.float32) / 127.5 - 1.0


def to_uint8(images):
    """float [-1, 1] -> uint8 [0, 255] (rounded half to even, clipped). The same ops serve the SavedModel's
    serving function (tensor in, tensor out) and numpy callers (array in, array out)."""
    import tensorflow as tf
    out = tf.cast(tf.clip_by_value(tf.round((tf.cast(images, tf.float32) + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
    return out if tf.is_tensor(images) else out.numpy()


def map_batches(fn, images_uint8, batch_size, progress=False):
    """fn(float32 [-1, 1] batch) -> (features, logits) over uint8 images in batches (bounded memory), with a
    progress bar if asked; returns the concatenated numpy arrays. The one loop of every feature extractor."""
    import keras
    outputs, bar = [], keras.utils.Progbar(len(images_uint8), unit_name="image") if progress else None
    for i in range(0, len(images_uint8), batch_size):
        outputs.append([np.asarray(o) for o in fn(to_float(images_uint8[i:i + batch_size]))])
        if bar:
            bar.update(min(i + batch_size, len(images_uint8)))
    return tuple(np.concatenate(parts) for parts in zip(*outputs))


def grid(images, rows=None, pad=2):
    """uint8 [N, H, W, C] -> one uint8 image with `rows` rows (default: as square as possible)."""
    images = np.asarray(images)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    n, h, w, c = images.shape
    rows = rows or int(np.floor(np.sqrt(n)))
    cols = int(np.ceil(n / rows))
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i, im in enumerate(images):
        r, k = divmod(i, cols)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + k * (w + pad):pad + k * (w + pad) + w] = im
    return out


def atomic_write_bytes(path, blob):
    """Write `blob` to a temporary file beside `path`, then rename it into place. The temporary name carries
    the writer's pid, so the temporary files of writers killed mid-write (SIGKILL) are removed by the next."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    prefix = f".{os.path.basename(path)}.tmp-"
    for name in os.listdir(directory):
        pid = name[len(prefix):].split("-")[0] if name.startswith(prefix) else ""
        if pid.isdigit() and not _alive(int(pid)):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass  # another writer removed it first
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{prefix}{os.getpid()}-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written file gets the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def png_bytes(image, scale=1, palette=False):
    """uint8 image -> PNG file contents, enlarged `scale` times (nearest neighbour); with `palette`, reduced
    to 256 colours (about a third of the bytes for sample grids, which is what committed results use)."""
    import io
    from PIL import Image
    im = Image.fromarray(np.asarray(image, np.uint8))
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    if palette:
        im = im.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=palette)
    return buf.getvalue()


def save_png(path, image, scale=1):
    atomic_write_bytes(path, png_bytes(image, scale))


def save_figure(path, fig):
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def jpeg_compressed(images_uint8, quality=75):
    """Each image encoded as a baseline JPEG file at IJG quality `quality` with 4:2:0 chroma subsampling, and
    decoded again (Pillow/libjpeg). At 75 this is the processing the shared CIFAR-10 copy's images went through
    (its files carry IJG's quality-75 tables and 4:2:0 sampling): a judge comparing generated images with those
    real ones should see the same colour resolution and quantisation on both sides (docs/evaluation.md)."""
    import io
    from PIL import Image
    images = np.asarray(images_uint8, np.uint8)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"jpeg_compressed wants uint8 [N, H, W, 1 or 3] images, got shape {images.shape}")
    out = np.empty_like(images)
    for i, image in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            buf, format="JPEG", quality=quality, subsampling="4:2:0")
        out[i] = np.asarray(Image.open(buf)).reshape(image.shape)
    return out

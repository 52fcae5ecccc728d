"""Image grids and atomic file writes (a crash mid-write never leaves a half-written file)."""
import os
import tempfile

import numpy as np


def to_uint8(images):
    """float [-1, 1] -> uint8 [0, 255], rounding the same way as the exported SavedModel."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


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
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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

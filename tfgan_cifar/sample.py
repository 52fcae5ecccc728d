"""Sample an exported generator with `tf.saved_model.load` (no network is built: the variant's class only says
what inputs its generator takes and how to make them).

    python -m tfgan_cifar.sample --model_dir=models/dcgan --n=64 --out=grid.png
    python -m tfgan_cifar.sample --model_dir=models/acgan --labels=3 --out=cats.npz
    python -m tfgan_cifar.sample --model_dir=models/sketch2img --sketch=cat.png --labels=3 --per_sketch=8 --out=cat.png
"""
import os

import numpy as np
from absl import flags

from tfgan_cifar.lib.config import define_flags as define_config_flags
from tfgan_cifar.lib.errors import UsageError


MAX_GRID_IMAGES = 4096  # a PNG grid of more is no longer something to look at
MEMORY_SHARE = 0.5  # an .npz of samples may take at most this share of the available memory


def available_memory():
    """Bytes of memory available now (MemAvailable), or None where /proc/meminfo cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable"))
    except (OSError, StopIteration, ValueError):
        return None


def check_count(n, image_size, out):
    """Bound --n: a grid by what can be looked at, an .npz by the memory it is built in."""
    if out.endswith(".png") and n > MAX_GRID_IMAGES:
        raise UsageError(f"--n={n} is too many for a PNG grid (at most {MAX_GRID_IMAGES}); write an .npz instead")
    need, free = n * image_size * image_size * 3 * 2, available_memory()  # images, plus their copy in the .npz
    if free is not None and need > MEMORY_SHARE * free:
        most = int(MEMORY_SHARE * free // (image_size * image_size * 3 * 2))
        raise UsageError(f"--n={n} needs about {need / 2**30:.1f} GiB but {free / 2**30:.1f} GiB is available; at "
                         f"most {most} images of {image_size}px at once (split into several runs with --seed)")


def main(argv):
    from tfgan_cifar import gans
    from tfgan_cifar.lib import images, savedmodel
    FLAGS = flags.FLAGS
    if FLAGS.n <= 0:
        raise UsageError(f"--n must be > 0, got {FLAGS.n}")
    if FLAGS.images_per_call <= 0:
        raise UsageError(f"--images_per_call must be > 0, got {FLAGS.images_per_call}")
    if not FLAGS.out.endswith((".png", ".npz")):
        raise UsageError(f"--out must end in .png or .npz, got {FLAGS.out!r}")
    if os.path.isdir(FLAGS.out):
        raise UsageError(f"--out {FLAGS.out!r} is a folder; give a file name ending in .png or .npz")
    loaded, meta = savedmodel.load(FLAGS.model_dir)
    check_count(FLAGS.n, meta["image_size"], FLAGS.out)
    variant = gans.VARIANTS[meta["model"]]  # it knows what its generator takes (z, label, sketch, ...)
    inputs = variant.sampling_inputs(meta, FLAGS.n, FLAGS.seed, FLAGS.labels, FLAGS.sketch, FLAGS.per_sketch)
    n = len(next(iter(inputs.values())))
    out = savedmodel.generate(loaded, inputs, batch_size=FLAGS.images_per_call, progress=n > FLAGS.images_per_call)
    if FLAGS.out.endswith(".npz"):  # the images and every input they were generated from, by input name
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
        np.savez_compressed(FLAGS.out, images=out, **inputs)
    else:
        rows = len(set(inputs["label"].tolist())) if "label" in inputs and not FLAGS.labels else None
        images.save_png(FLAGS.out, images.grid(*variant.sample_picture(inputs, out, rows, FLAGS.per_sketch)),
                        scale=2)
    labels = inputs.get("label")
    print(f"wrote {n} {meta['model']} samples" + (f" ({', '.join(meta['class_names'][l] for l in labels[:5])}"
                                                 f"{', ...' if n > 5 else ''})" if labels is not None else "")
          + f" to {FLAGS.out}")


def define_flags():
    flags.DEFINE_string("model_dir", "models/dcgan", "Exported generator (a SavedModel written by train/export).")
    flags.DEFINE_integer("n", 64, "Number of images.")
    flags.DEFINE_string("out", "samples.png", "Output: .png writes a grid, .npz writes images/labels/z arrays.")
    flags.DEFINE_string("labels", "", "Conditional models: classes by name or id, e.g. 'cat,ship' or '3' or '0,1,2' "
                        "(repeated to --n). Default: every class, one grid row each.")
    define_config_flags(["seed"])
    flags.DEFINE_string("sketch", "", "sketch2img: a sketch image (dark strokes on light paper, or the reverse) or a "
                        "folder of them, at the model's image size; --per_sketch images are generated per sketch.")
    flags.DEFINE_integer("per_sketch", 1, "sketch2img: images per sketch, each from its own random vector (models "
                         "trained with --noise=latent, as --preset=cpu_fast).")
    flags.DEFINE_integer("images_per_call", 256, "Images generated per call of the export (bounds memory).")


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    define_flags()
    run(main)

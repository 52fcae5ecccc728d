"""Sample an exported generator with `tf.saved_model.load` only (no project model code).

    python -m tfgan_cifar.sample --model_dir=models/dcgan --n=64 --out=grid.png
    python -m tfgan_cifar.sample --model_dir=models/acgan --labels=3 --out=cats.npz
    python -m tfgan_cifar.sample --model_dir=models/sketch2img --sketch=cat.png --labels=3 --out=cat.png
"""
import os

import numpy as np
from absl import flags

from tfgan_cifar.errors import UsageError


def parse_labels(text, n, meta):
    """Labels for n images: the given list repeated, or (default) classes in blocks, one grid row each."""
    k = meta["num_classes"]
    if not meta["conditional"]:
        if text:
            raise UsageError(f"--labels applies only to conditional models; {meta['model']} is unconditional")
        return None
    if text:
        given = [class_id(t.strip(), meta) for t in text.split(",") if t.strip()]
        if not given:
            raise UsageError(f"--labels names no class: {text!r}")
        return np.resize(np.asarray(given, np.int32), n)
    classes = meta.get("classes") or list(range(k))
    return np.repeat(np.asarray(classes, np.int32), -(-n // len(classes)))[:n]


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


def class_id(token, meta):
    """A class given by id ('3') or by name ('cat', any case) -> its id; UsageError listing the valid ones."""
    names = [str(c) for c in meta["class_names"]]
    if token.lstrip("-").isdigit():
        if 0 <= int(token) < meta["num_classes"]:
            return int(token)
        raise UsageError(f"--labels: class id {token} is not in 0..{meta['num_classes'] - 1} for {meta['model']}")
    lowered = [name.lower() for name in names]
    if token.lower() in lowered:
        return lowered.index(token.lower())
    raise UsageError(f"--labels: unknown class {token!r}; {meta['model']} knows: "
                     + ", ".join(f"{i}={name}" for i, name in enumerate(names)))


def generate(loaded, z, labels=None, batch_size=256, progress=False, input_name="z"):
    """uint8 images from the SavedModel's serving_default, in batches. `z` is the main input: latent
    vectors, or sketches for sketch2img (input_name='sketch')."""
    import keras
    serve = loaded.signatures["serving_default"]
    out, bar = [], keras.utils.Progbar(len(z), unit_name="image") if progress else None
    for i in range(0, len(z), batch_size):
        inputs = {input_name: z[i:i + batch_size]}
        if labels is not None:
            inputs["label"] = labels[i:i + batch_size]
        out.append(serve(**inputs)["images"].numpy())
        if bar:
            bar.update(min(i + batch_size, len(z)))
    return np.concatenate(out)


def main(argv):
    from tfgan_cifar import export, images
    FLAGS = flags.FLAGS
    if FLAGS.n <= 0:
        raise UsageError(f"--n must be > 0, got {FLAGS.n}")
    if FLAGS.batch_size <= 0:
        raise UsageError(f"--batch_size must be > 0, got {FLAGS.batch_size}")
    if not FLAGS.out.endswith((".png", ".npz")):
        raise UsageError(f"--out must end in .png or .npz, got {FLAGS.out!r}")
    if os.path.isdir(FLAGS.out):
        raise UsageError(f"--out {FLAGS.out!r} is a folder; give a file name ending in .png or .npz")
    loaded, meta = export.load(FLAGS.model_dir)
    check_count(FLAGS.n, meta["image_size"], FLAGS.out)
    if meta.get("inputs") == "sketch" or FLAGS.sketch:
        return sample_sketches(loaded, meta, FLAGS)
    labels = parse_labels(FLAGS.labels, FLAGS.n, meta)
    z = np.random.default_rng(FLAGS.seed).standard_normal((FLAGS.n, meta["nz"])).astype(np.float32)
    out = generate(loaded, z, labels, FLAGS.batch_size, progress=FLAGS.n > FLAGS.batch_size)
    if FLAGS.out.endswith(".npz"):
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
        np.savez_compressed(FLAGS.out, images=out, z=z, **({} if labels is None else {"labels": labels}))
    else:
        rows = len(set(labels.tolist())) if labels is not None and not FLAGS.labels else None
        images.save_png(FLAGS.out, images.grid(out, rows=rows), scale=2)
    print(f"wrote {FLAGS.n} {meta['model']} samples to {FLAGS.out}")


def sample_sketches(loaded, meta, FLAGS):
    """sketch2img: one image per sketch (a file or a folder), written as rows of sketch | generated."""
    from tfgan_cifar import images, sketch
    if meta.get("inputs") != "sketch":
        raise UsageError(f"--sketch applies only to sketch2img models; {meta['model']} samples from latent vectors")
    if not FLAGS.sketch:
        raise UsageError("sketch2img generates from sketches: give --sketch=FILE_OR_FOLDER (make sample SKETCH=...)")
    sketches, names = sketch.read_sketches(FLAGS.sketch, meta["image_size"])
    labels = parse_labels(FLAGS.labels, len(sketches), meta)
    out = generate(loaded, sketches, labels, FLAGS.batch_size, input_name="sketch")
    if FLAGS.out.endswith(".npz"):
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
        np.savez_compressed(FLAGS.out, images=out, labels=labels, sketches=sketches, files=np.asarray(names))
    else:
        drawn = np.repeat(np.round(255 * (1.0 - sketches)).astype(np.uint8), 3, axis=-1)  # dark strokes on white
        pairs = np.stack([drawn, out], axis=1).reshape((-1,) + out.shape[1:])
        images.save_png(FLAGS.out, images.grid(pairs, rows=len(out)), scale=2)
    print(f"wrote {len(out)} sketch2img images ({', '.join(meta['class_names'][l] for l in labels[:5])}"
          f"{', ...' if len(out) > 5 else ''}) to {FLAGS.out}")


def define_flags():
    flags.DEFINE_string("model_dir", "models/dcgan", "Exported generator (a SavedModel written by train/export).")
    flags.DEFINE_integer("n", 64, "Number of images.")
    flags.DEFINE_string("out", "samples.png", "Output: .png writes a grid, .npz writes images/labels/z arrays.")
    flags.DEFINE_string("labels", "", "Conditional models: classes by name or id, e.g. 'cat,ship' or '3' or '0,1,2' "
                        "(repeated to --n). Default: every class, one grid row each.")
    flags.DEFINE_integer("seed", 0, "Seed of the latent vectors.")
    flags.DEFINE_string("sketch", "", "sketch2img: a sketch image (dark strokes on light paper, or the reverse) or a "
                        "folder of them, at the model's image size; one image is generated per sketch.")
    flags.DEFINE_integer("batch_size", 256, "Images generated per call (bounds memory).")


if __name__ == "__main__":
    from tfgan_cifar.errors import run
    define_flags()
    run(main)

"""Export a generator as a TF SavedModel that samples with `tf.saved_model.load` alone.

serving_default: z float32 [N, nz] (+ label int32 [N] for conditional models) -> {'images': uint8 [N, H, W, 3]}.
The SavedModel also carries `meta_json` (nz, image size, class names, ...) as a string variable.

    python -m tfgan_cifar.export --run_dir=runs/dcgan/20260101-120000 [--export_dir=models]

The write is atomic: the model is saved beside the target, then renamed into place, so a failed or
interrupted export never damages an existing models/<model>/.
"""
import json
import os
import shutil

import tensorflow as tf

FORMAT = "tfgan_cifar/1"
BEST = "best"  # models/<model>/best/: the generator of the best epoch by FID


def metadata(gan, class_names, epoch, step):
    c = gan.config
    return dict(format=FORMAT, model=c.model, nz=gan.nz, image_size=gan.image_size, conditional=gan.conditional,
                num_classes=gan.num_classes, class_names=list(class_names), dataset=c.dataset,
                classes=c.classes, epoch=int(epoch), step=int(step), ema=c.ema,
                run_dir=os.path.abspath(c.run_dir) if c.run_dir else "", **gan.export_metadata())


def nonfinite_variables(variables):
    """Names of the variables holding a NaN or an infinity."""
    import numpy as np
    return [v.path if hasattr(v, "path") else v.name for v in variables if not np.all(np.isfinite(v.numpy()))]


def check_export_dir(export_dir, model):
    """Refuse, before any training, an export location that cannot become <export_dir>/<model>/."""
    from tfgan_cifar.errors import UsageError
    for path in (export_dir, os.path.join(export_dir, model)):
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"--export_dir: {path!r} is a file, not a folder; choose another --export_dir")


def save_generator(gan, path, meta, raw=False):
    """Write the SavedModel to `path` atomically (write beside, then rename), under a lock on `path`. With
    --ema the averaged generator is exported unless `raw`, which exports the trained one. Non-finite weights
    are never exported (the previous export stays); leftovers of an interrupted export are removed."""
    from tfgan_cifar.errors import TrainingDiverged
    from tfgan_cifar.locking import FolderLock
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    generator = gan.generator if raw else gan.sampler()
    bad = nonfinite_variables(generator.variables)
    if bad:
        raise TrainingDiverged(f"not exporting to {path}: {len(bad)} generator weights are non-finite (e.g. {bad[0]}); "
                               f"the previous export, if any, is unchanged")
    with FolderLock(os.path.join(parent, f".{name}.lock"), f"export target {path}"):
        recover(path)
        for leftover in os.listdir(parent):  # an export killed mid-write; ours hold the lock, so none is live
            if leftover.startswith((f"{name}.tmp-", f"{name}.old-")):
                shutil.rmtree(os.path.join(parent, leftover), ignore_errors=True)
        return _write(gan, generator, path, meta)


def _write(gan, generator, path, meta):
    tmp, old = f"{path}.tmp-{os.getpid()}", f"{path}.old-{os.getpid()}"
    meta = dict(meta, weights="ema" if generator is gan.ema_generator else "trained")
    module = tf.Module()
    module.generator = generator
    module.meta_json = tf.Variable(json.dumps(meta), trainable=False, name="meta_json")
    module.serve = gan.serving_function(generator)
    try:
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
        with open(os.path.join(tmp, "tfgan_cifar.json"), "w") as f:  # the same metadata, for people
            json.dump(meta, f, indent=2)
        if os.path.isdir(os.path.join(path, BEST)):  # the best-epoch export lives inside; carry it over
            os.rename(os.path.join(path, BEST), os.path.join(tmp, BEST))
        if os.path.exists(path):
            os.rename(path, old)
        os.rename(tmp, path)
    except BaseException:
        if not os.path.exists(path) and os.path.exists(old):
            os.rename(old, path)  # put the previous export back
        if os.path.isdir(os.path.join(tmp, BEST)) and not os.path.exists(os.path.join(path, BEST)):
            os.rename(os.path.join(tmp, BEST), os.path.join(path, BEST))
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path


def recover(path):
    """If a crash fell between the two renames of save_generator, put the previous export back."""
    parent, name = os.path.split(os.path.abspath(path))
    if not os.path.exists(path) and os.path.isdir(parent):
        olds = sorted(d for d in os.listdir(parent) if d.startswith(name + ".old-"))
        if olds:
            os.rename(os.path.join(parent, olds[-1]), path)


def load(path):
    """(loaded SavedModel, metadata dict). Raises UsageError for a missing or foreign directory."""
    from tfgan_cifar.errors import UsageError
    recover(path)
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise UsageError(f"no SavedModel at {path!r}; train one first (make train) or pass --model_dir")
    try:
        loaded = tf.saved_model.load(path)
        meta = json.loads(loaded.meta_json.numpy().decode())
    except Exception as e:
        raise UsageError(f"{path!r} is not a tfgan_cifar generator export ({type(e).__name__})")
    if meta.get("format") != FORMAT:
        raise UsageError(f"{path!r} has unknown export format {meta.get('format')!r}")
    return loaded, meta


def main(argv):
    from absl import flags

    from tfgan_cifar import train
    from tfgan_cifar.errors import UsageError
    FLAGS = flags.FLAGS
    if not FLAGS.run_dir or not os.path.exists(os.path.join(FLAGS.run_dir, "config.json")):
        raise UsageError(f"--run_dir must name a training run (a directory with config.json), got {FLAGS.run_dir!r}")
    if os.path.exists(FLAGS.export_dir) and not os.path.isdir(FLAGS.export_dir):
        raise UsageError(f"--export_dir: {FLAGS.export_dir!r} is a file, not a folder")
    path = train.export_from_checkpoint(FLAGS.run_dir, FLAGS.export_dir, FLAGS.checkpoint, raw=FLAGS.raw)
    print(f"exported {path}")


if __name__ == "__main__":
    from absl import flags

    from tfgan_cifar.errors import run
    flags.DEFINE_string("run_dir", "", "Training run to export (holds config.json and checkpoints/).")
    flags.DEFINE_string("export_dir", "models", "Write the generator to <export_dir>/<model>/.")
    flags.DEFINE_string("checkpoint", "", "A specific checkpoint prefix; default: the newest in the run.")
    flags.DEFINE_bool("raw", False, "For a run trained with --ema: export the trained generator, not its average.")
    run(main)

"""Export a generator as a TF SavedModel that samples with `tf.saved_model.load` alone.

serving_default: the variant's INPUTS by name (z float32 [N, nz]; label int32 [N] for conditional models;
sketch2img's sketch float32 [N, H, W, 1]) -> {'images': uint8 [N, H, W, 3]}. The SavedModel also carries
`meta_json` (inputs, nz, image size, class names, ...) as a string variable.

Written by training and by `python -m tfgan_cifar.export --run_dir=...`. The write is atomic: the model is
saved beside the target, then renamed into place, so a failed or interrupted export never damages an
existing models/<model>/.
"""
import json
import os
import shutil

import numpy as np
import tensorflow as tf

from tfgan_cifar.lib.errors import UsageError

FORMAT = "tfgan_cifar/1"
BEST = "best"  # models/<model>/best/: the generator of the best epoch by the quality monitor (lib/monitor.py)


def metadata(gan, class_names, epoch, step):
    c = gan.config
    return dict(format=FORMAT, model=c.model, inputs=list(gan.INPUTS), nz=gan.nz, image_size=gan.image_size,
                conditional=gan.conditional, num_classes=gan.num_classes, class_names=list(class_names),
                dataset=c.dataset, classes=c.classes, epoch=int(epoch), step=int(step), ema=c.ema,
                run_dir=os.path.abspath(c.run_dir) if c.run_dir else "", **gan.export_metadata())


def nonfinite_variables(variables):
    """Names of the variables holding a NaN or an infinity."""
    return [v.path if hasattr(v, "path") else v.name for v in variables if not np.all(np.isfinite(v.numpy()))]


def check_export_dir(export_dir, model):
    """Refuse, before any training, an export location that cannot become <export_dir>/<model>/."""
    for path in (export_dir, os.path.join(export_dir, model)):
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"--export_dir: {path!r} is a file, not a folder; choose another --export_dir")


def save_generator(gan, path, meta, raw=False):
    """Write the SavedModel to `path` atomically (write beside, then rename), under a lock on `path`. With
    --ema the averaged generator is exported unless `raw`, which exports the trained one. Non-finite weights
    are never exported (the previous export stays); leftovers of an interrupted export are removed."""
    from tfgan_cifar.lib.errors import TrainingDiverged
    from tfgan_cifar.lib.locking import FolderLock
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    generator = gan.generator if raw else gan.sampler()
    bad = nonfinite_variables(generator.variables)
    if bad:
        raise TrainingDiverged(f"not exporting to {path}: {len(bad)} generator weights are non-finite (e.g. {bad[0]}); "
                               f"the previous export, if any, is unchanged")
    with FolderLock(os.path.join(parent, f".{name}.lock"), f"export target {path}"):
        _clear_interrupted(path)
        return _write(gan, generator, path, meta)


def _clear_interrupted(path):
    """Before an export replaces `path` (under its lock): an export killed between its two renames is put back,
    and the leftovers of one killed mid-write are removed (ours hold the lock, so none is live)."""
    recover(path)
    parent, name = os.path.split(path)
    for leftover in os.listdir(parent):
        if leftover.startswith((f"{name}.tmp-", f"{name}.old-")):
            shutil.rmtree(os.path.join(parent, leftover), ignore_errors=True)


def _write(gan, generator, path, meta):
    meta = dict(meta, weights="ema" if generator is gan.ema_generator else "trained")
    module = tf.Module()
    module.generator = generator
    # Tracked explicitly: Keras does not hand TF every variable the serving function reads (a SeedGenerator's state).
    module.generator_variables = [v.value for v in generator.variables]
    module.meta_json = tf.Variable(json.dumps(meta), trainable=False, name="meta_json")
    module.serve = gan.serving_function(generator)

    def save(tmp):
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
        with open(os.path.join(tmp, "tfgan_cifar.json"), "w") as f:  # the same metadata, for people
            json.dump(meta, f, indent=2)
    return _replace(path, save)


def promote(path):
    """Make the best-epoch export inside `path` (path/best/) the export at `path` itself, atomically (the
    previous export stays until the copy is complete); the best one stays where it is too."""
    from tfgan_cifar.lib.locking import FolderLock
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    with FolderLock(os.path.join(parent, f".{name}.lock"), f"export target {path}"):
        _clear_interrupted(path)
        return _replace(path, lambda tmp: shutil.copytree(os.path.join(path, BEST), tmp))


def is_temporary(name):
    """True for the folders _replace writes beside an export (never an export to serve or list)."""
    return ".tmp-" in name or ".old-" in name


def _replace(path, fill):
    """`fill(tmp)` writes the new export beside `path`; then it replaces `path` by two renames."""
    tmp, old = f"{path}.tmp-{os.getpid()}", f"{path}.old-{os.getpid()}"
    try:
        fill(tmp)
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


def _set_aside(path):
    """The previous exports _replace renamed aside while `path` is missing (between its two renames, or after a
    crash there), oldest first; [] when `path` exists."""
    parent, name = os.path.split(os.path.abspath(path))
    if os.path.exists(path) or not os.path.isdir(parent):
        return []
    return [os.path.join(parent, d) for d in sorted(os.listdir(parent)) if d.startswith(name + ".old-")]


def being_replaced(path):
    """True while _replace is between its two renames of `path` (its previous export renamed aside)."""
    return bool(_set_aside(path))


def recover(path):
    """If a crash fell between the two renames of save_generator, put the previous export back."""
    olds = _set_aside(path)
    if olds:
        os.rename(olds[-1], path)


def inputs_of(meta):
    """The serving inputs an export takes, in order (its variant's INPUTS); exports written before the metadata
    named them said only "sketch" (sketch2img) or nothing."""
    inputs = meta.get("inputs")
    if isinstance(inputs, list):
        return inputs
    return ["sketch", "label"] if inputs == "sketch" else ["z", "label"] if meta.get("conditional") else ["z"]


def generate(loaded, inputs, labels=None, batch_size=256, progress=False):
    """uint8 images from the SavedModel's serving_default, in batches. `inputs`: {input name: array} named as
    the export's inputs (see inputs_of), or the latent vectors z alone (with `labels` for conditional models)."""
    import keras
    if not isinstance(inputs, dict):
        inputs = dict(z=inputs, **({} if labels is None else {"label": labels}))
    serve, n = loaded.signatures["serving_default"], len(next(iter(inputs.values())))
    out, bar = [], keras.utils.Progbar(n, unit_name="image") if progress else None
    for i in range(0, n, batch_size):
        out.append(serve(**{name: values[i:i + batch_size] for name, values in inputs.items()})["images"].numpy())
        if bar:
            bar.update(min(i + batch_size, n))
    return np.concatenate(out)


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


def exists(path):
    """True where `path` holds an export (after putting back one a crash left renamed aside)."""
    recover(path)
    return os.path.exists(os.path.join(path, "saved_model.pb"))


def load(path, repair=True):
    """(loaded SavedModel, metadata dict). Raises UsageError for a missing or foreign directory. repair=False for
    readers beside a live writer (the server): recover() could undo a rename the writer is between."""
    if repair:
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
    return loaded, dict(meta, inputs=inputs_of(meta))

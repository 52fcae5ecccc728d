"""The page's pictures: a seeded grid of samples (a row per class for conditional models) and a walk through
the latent space between two seeds, each as a uint8 image; the arguments come from the query string."""
import numpy as np

from tfgan_cifar.lib.errors import UsageError
from tfgan_cifar.serving.common import MAX_N, MODEL_CALL, BadRequest

MAX_STEPS = 16  # images in an interpolation strip


def _int_arg(args, name, default, low, high):
    text = args.get(name, str(default))
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {text!r}")
    if not low <= value <= high:
        raise BadRequest(f"{name} must be in {low}..{high}, got {value}")
    return value


def _labels(served, text, n):
    from tfgan_cifar.lib import savedmodel
    try:
        return savedmodel.parse_labels(text, n, served.meta)
    except UsageError as e:
        raise BadRequest(str(e).replace("--labels", "labels"))


def _generate(served, z, labels):
    from tfgan_cifar.lib import savedmodel
    with MODEL_CALL:
        return savedmodel.generate(served.loaded, z, labels)


def sample_grid(served, args):
    """uint8 grid of n samples (labels: names or ids, default every class), from z drawn with `seed`."""
    from tfgan_cifar.lib import images, latent
    if served.main_input() != "z":
        raise BadRequest(f"{served.name} generates from sketches; use :predict with a 'sketch' input")
    n = _int_arg(args, "n", 64, 1, MAX_N)
    seed = _int_arg(args, "seed", 0, 0, 2**31 - 1)
    every_class = served.meta["conditional"] and not args.get("labels")
    if every_class:  # whole rows: ceil(n / classes) images of each class
        classes = len(served.meta.get("classes") or range(served.meta["num_classes"]))
        n = min(-(-n // classes), MAX_N // classes) * classes
    labels = _labels(served, args.get("labels", ""), n)
    out = _generate(served, latent.latent_vectors(n, served.meta["nz"], seed), labels)
    return images.grid(out, rows=len(set(labels.tolist())) if every_class else None)


def interpolation_strip(served, args):
    """One row: the walk from z(seed) to z(seed_b) along the great circle (slerp), for one class."""
    from tfgan_cifar.lib import images, latent
    if served.main_input() != "z":
        raise BadRequest(f"{served.name} generates from sketches; it has no latent space to walk")
    steps = _int_arg(args, "steps", 10, 2, MAX_STEPS)
    seed_a, seed_b = (_int_arg(args, k, d, 0, 2**31 - 1) for k, d in (("seed", 0), ("seed_b", 1)))
    labels = _labels(served, args.get("labels", ""), steps)
    if labels is not None and not args.get("labels"):
        labels = np.zeros(steps, np.int32) + labels[0]
    return images.grid(_generate(served, latent.walk(served.meta["nz"], seed_a, seed_b, steps), labels), rows=1)

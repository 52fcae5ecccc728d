"""Every judge on its own floor: held-out real images, and damaged copies of them (blurred, noised, shrunk and
enlarged back; lib/judges.DAMAGED), scored against the real reference exactly as samples are. A judge is
trusted when the real images score best on it and the damaged ones worse than trained generators.

    python -m tfgan_cifar.tools.floors --dataset=cifar10 --data_dir=data      # -> docs/results/floors_cifar10.json
        [--samples='dcgan cpu_fast=samples/dcgan.npz,...']                    # generated sets to compare
        [--jpeg_quality=75]                       # and each real or generated set JPEG-compressed, as its own row

(`make floors DATASET=cifar10`.) The evaluator comes from `make evaluator DATASET=...`; `--samples` takes .npz
files with an `images` array (what `make sample OUT=x.npz` writes), scored the same way. `--jpeg_quality` asks
whether a judge sees compression rather than pictures: the real images of a JPEG-compressed copy (the shared
CIFAR-10 one is quality 75) carry its traces (colour at half resolution, quantised 8x8 blocks) and generated images
do not, so a judge that tells them apart by those moves when the generated sets are compressed the same way.
"""
import json
import os
import time

import numpy as np

from absl import flags

from tfgan_cifar.lib.errors import UsageError

REAL = "real held-out images (test split)"


def score_floors(judges, held_out, size):
    """{name: every judge's figures} for the held-out real images and each damaged copy of them."""
    from tfgan_cifar.lib import data
    from tfgan_cifar.lib.judges import DAMAGED
    real = data.resize_uint8(held_out.images, size)
    sets = dict({REAL: real}, **{name: damage(real) for name, damage in DAMAGED.items()})
    return {name: judges.score(images, held_out.labels, name) for name, images in sets.items()}


def score_compressed(judges, sets, quality):
    """{"<name>, JPEG q<quality>": every judge's figures} of each set {name: (uint8 images, labels or None)}
    JPEG-compressed at that IJG quality (lib/images.jpeg_compressed)."""
    return {f"{name}, JPEG q{quality}": judges.score(images, labels, f"{name}, JPEG q{quality}", quality)
            for name, (images, labels) in sets.items()}


def main(argv):
    from tfgan_cifar.evaluate import Judges, check_jpeg_quality
    from tfgan_cifar.lib import data, features
    from tfgan_cifar.tools.results import versions
    F = flags.FLAGS
    if F.n < 100:
        raise UsageError(f"--n must be >= 100 (FID needs a covariance), got {F.n}")
    check_jpeg_quality(F.jpeg_quality)
    samples = [spec.split("=", 1) for spec in F.samples]
    for spec in samples:
        if len(spec) != 2 or not spec[1].endswith(".npz"):
            raise UsageError(f"--samples takes NAME=FILE.npz entries (no '=' in NAME), got {'='.join(spec)!r}")
        if not os.path.isfile(spec[1]):
            raise UsageError(f"--samples: no file {spec[1]!r}")
    extractor = features.make(F.features, F.dataset, F.image_size, F.inception_path, cache_dir=F.data_dir)
    train_set = data.load(F.dataset, "train", F.data_dir, F.image_size, examples=F.examples)
    held_out = data.random_subset(data.load(F.dataset, "test", F.data_dir, F.image_size, examples=F.examples), F.n,
                                  F.seed)
    start = time.perf_counter()
    judges = Judges(extractor, F.dataset, train_set, F.image_size, None, F.data_dir, F.seed, progress=True)
    scores = score_floors(judges, held_out, F.image_size)
    generated = {}
    for name, path in samples:
        with np.load(path) as f:
            generated[name] = (f["images"][:F.n], f["label"][:F.n] if "label" in f.files else None)
        scores[name] = judges.score(*generated[name], name)
    if F.jpeg_quality:
        real = (data.resize_uint8(held_out.images, F.image_size), held_out.labels)
        scores.update(score_compressed(judges, dict({REAL: real}, **generated), F.jpeg_quality))
    out = F.out or f"docs/results/floors_{F.dataset.replace(':', '_').replace('/', '_')}.json"
    result = dict(dataset=F.dataset, n=len(held_out), reference=judges.described, features=extractor.describe(),
                  seconds=round(time.perf_counter() - start, 1), date=time.strftime("%Y-%m-%d"), versions=versions(),
                  sets=scores)
    from tfgan_cifar.lib.images import atomic_write_bytes
    atomic_write_bytes(out, (json.dumps(result, indent=1) + "\n").encode())
    for name, s in scores.items():
        print(f"{name[:42]:42s} FID {s['fid']:8.3f}  KID {s['kid']:7.4f}  recall {s['recall']:.3f}  SWD {s['swd']:7.2f}  "
              f"two-sample {s['c2st']:.3f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    from tfgan_cifar.lib.config import DATA_SETTINGS, FEATURE_SETTINGS, define_flags
    from tfgan_cifar.lib.errors import run
    define_flags(DATA_SETTINGS + FEATURE_SETTINGS + ("seed",))  # seed: the image choice, the noise and the judges
    flags.DEFINE_integer("n", 10000, "Held-out real images (and damaged copies) to score.")
    flags.DEFINE_string("out", "", "JSON file; default docs/results/floors_<dataset>.json.")
    flags.DEFINE_list("samples", [], "Generated image sets to score beside the floors: NAME=FILE.npz (no '=' or ',' in NAME), comma-separated.")
    from tfgan_cifar.evaluate import define_jpeg_flag
    define_jpeg_flag("Also score, each as a row of its own, the real held-out images and every --samples set")
    run(main)

"""Evaluate an exported generator from its SavedModel alone, under three judges that share nothing: the
classifier's features (FID, IS, KID +- std, precision, recall and, for conditional models with the evaluator's
features, class accuracy and intra-class diversity), the sliced Wasserstein distance on Laplacian-pyramid
patches, and a classifier two-sample test (lib/judges.py); next to the same metrics for held-out real images
(the real-data floor), so every number can be read in context.

    python -m tfgan_cifar.evaluate --model_dir=models/acgan --n=10000 --features=evaluator
"""
import hashlib
import json
import os
import time

import numpy as np
from absl import flags

from tfgan_cifar.lib.config import FEATURE_SETTINGS
from tfgan_cifar.lib.config import define_flags as define_config_flags
from tfgan_cifar.lib.errors import UsageError


class Judges:
    """Every judge against one real reference: the extractor's feature metrics (metrics.score), and SWD with the
    two-sample test (judges.Reference). `score(images, labels)` treats any image set alike: samples, held-out
    real images (the floor), damaged real images (tools/floors.py)."""

    def __init__(self, extractor, dataset, train_set, size, classes=None, data_dir="data", seed=0, progress=False):
        from tfgan_cifar.lib import data, features, judges
        self.extractor, self.seed, self.progress = extractor, seed, progress
        self.reference, self.reference_cache = features.real_reference(
            extractor, dataset, train_set, size, classes, os.path.join(data_dir, "reference_stats"), progress=progress)
        reference_images = data.resize_uint8(data.reference_part(train_set).images, size)
        self.independent = judges.Reference(reference_images, seed=seed)
        self.described = (f"{dataset} train split, its reference part ({len(self.reference['features'])} images, "
                          f"unseen by the evaluator)")
        self.cache_dir, self.reference_digest = os.path.dirname(self.reference_cache), _digest(reference_images)

    def score(self, images_uint8, labels=None, what="images", jpeg_quality=0):
        """Every judge's figures; with `jpeg_quality`, of the images JPEG-compressed at that quality first (the
        reference's own compression, where it had one: then no judge can tell the sets apart by it)."""
        from tfgan_cifar.lib import metrics
        from tfgan_cifar.lib.images import jpeg_compressed
        if self.progress:
            print(f"{what}: {self.extractor.name} features, SWD, two-sample test"
                  + (f" (JPEG quality {jpeg_quality})" if jpeg_quality else ""))
        if jpeg_quality:
            images_uint8 = jpeg_compressed(images_uint8, jpeg_quality)
        feats, logits = self.extractor(images_uint8, progress=self.progress)
        result = metrics.score(self.reference, feats, logits, labels, self.extractor.has_class_head, seed=self.seed)
        return dict(result, **self.independent.score(images_uint8))

    def score_floor(self, images_uint8, labels, jpeg_quality=0):
        """score() of held-out real images, kept beside the reference statistics: the floor does not depend on
        the model, so make zoo and a repeated make eval score it once. Keyed by both image sets and the labels,
        the extractor, the metrics' version, the seed and the JPEG quality."""
        from tfgan_cifar.lib import metrics
        key = _digest(images_uint8, labels, self.reference_digest, self.extractor.name, self.extractor.key,
                      metrics.VERSION, self.seed, *([jpeg_quality] if jpeg_quality else []))
        path = os.path.join(self.cache_dir, f"floor_{self.extractor.name}_n{len(images_uint8)}_{key[:16]}.json")
        try:
            with open(path) as f:  # JSON keys are strings: the per-class figures get their class ids back
                cached = {k: {int(c): v for c, v in value.items()} if isinstance(value, dict) else value
                          for k, value in json.load(f).items()}
            if self.progress:
                print(f"real test images: scored before ({path})")
            return cached
        except (OSError, ValueError, AttributeError):
            pass
        result = self.score(images_uint8, labels, "real test images", jpeg_quality)
        os.makedirs(self.cache_dir, exist_ok=True)
        with open(path + ".tmp", "w") as f:
            json.dump(result, f, default=float)
        os.replace(path + ".tmp", path)
        return result


def _digest(*parts):
    digest = hashlib.sha1()
    for part in parts:
        digest.update(np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return digest.hexdigest()


def evaluate(model_dir, n=10000, features_kind="evaluator", dataset="", data_dir="data", inception_path="", seed=0,
             evaluator_root="models/evaluator", progress=True, jpeg_quality=0):
    from tfgan_cifar import gans
    from tfgan_cifar.lib import data, features, savedmodel
    loaded, meta = savedmodel.load(model_dir)
    dataset = dataset or meta["dataset"]
    size = meta["image_size"]
    extractor = features.make(features_kind, dataset, size, inception_path, evaluator_root, data_dir)
    classes = meta.get("classes")
    train_set = data.load(dataset, "train", data_dir, size, classes)
    test_set = data.load(dataset, "test", data_dir, size, classes)
    check_reference(dataset, meta, train_set, test_set)
    start = time.perf_counter()
    judges = Judges(extractor, dataset, train_set, size, classes, data_dir, seed, progress)

    held_out = data.random_subset(test_set, n, seed)
    inputs, labels, targets = gans.VARIANTS[meta["model"]].evaluation_inputs(meta, held_out, n, seed)
    n = len(next(iter(inputs.values())))
    if progress:
        print(f"generating {n} images")
    fake = savedmodel.generate(loaded, inputs, progress=progress)
    paired = paired_distances(fake, data.resize_uint8(targets, size)) if targets is not None else {}
    variant_generated, variant_floor = gans.VARIANTS[meta["model"]].evaluation_extras(meta, inputs, fake, held_out)
    generated = dict(judges.score(fake, labels, "generated images", jpeg_quality), **paired, **variant_generated)
    # The floor: held-out real images with their true labels, scored exactly like samples.
    floor = dict(judges.score_floor(data.resize_uint8(held_out.images, size), held_out.labels, jpeg_quality),
                 **variant_floor)
    return dict(model=meta["model"], model_dir=model_dir, epoch=meta["epoch"], features=extractor.name,
                features_detail=extractor.describe(), features_key=extractor.key, samples=n, jpeg_quality=jpeg_quality,
                floor_samples=len(held_out), reference=judges.described,
                reference_cache=judges.reference_cache, seconds=round(time.perf_counter() - start, 1),
                generated=generated, real_test_floor=floor)


MIN_REFERENCE_IMAGES = 10  # k-NN precision/recall (k = 3) and a covariance for FID need a few images at least


def check_reference(dataset, meta, train_set, test_set):
    """Refuse a reference the metrics cannot use: too few images, or other classes than the model's."""
    if len(train_set.class_names) != meta["num_classes"]:
        raise UsageError(f"{dataset} has {len(train_set.class_names)} classes but {meta['model']} was trained on "
                         f"{meta['num_classes']}; evaluate against the dataset it was trained on")
    for split, images in (("train", train_set), ("test", test_set)):
        if len(images) < MIN_REFERENCE_IMAGES:
            raise UsageError(f"{dataset} has {len(images)} {split} images; FID and k-NN precision/recall need at "
                             f"least {MIN_REFERENCE_IMAGES} real images in each of the train and test splits")


def paired_distances(fake, real, batch_size=1000):
    """Mean L1 (on [0, 1] intensities) and mean SSIM between generated images and their target images."""
    import tensorflow as tf
    l1 = float(np.mean(np.abs(fake.astype(np.float32) - real.astype(np.float32))) / 255.0)
    ssim = [tf.image.ssim(tf.constant(real[i:i + batch_size]), tf.constant(fake[i:i + batch_size]), max_val=255).numpy()
            for i in range(0, len(fake), batch_size)]
    return dict(l1=l1, ssim=float(np.mean(np.concatenate(ssim))))


def format_table(result):
    rows = [("FID", "fid"), ("IS (classifier score)", "inception_score"), ("KID", "kid"), ("precision", "precision"),
            ("recall", "recall"), ("class accuracy", "class_accuracy"),
            ("SWD x1e3 (pyramid mean)", "swd"), ("  32x32 level", "swd_32"), ("  16x16 level", "swd_16"),
            ("two-sample test acc.", "c2st"),
            ("intra-class diversity", "intra_class_diversity"), ("  its worst class", "intra_class_diversity_min"),
            ("L1 to paired image", "l1"),
            ("SSIM to paired image", "ssim"), ("edge F1 to its sketch", "sketch_f1"),
            ("  chance: real, other's", "sketch_f1_chance")]
    g, r = result["generated"], result["real_test_floor"]
    lines = [f"{result['model']} (epoch {result['epoch']}): {result['samples']} samples vs {result['reference']}, "
             f"{result.get('features_detail', result['features'])} features"
             + (f"; both sets JPEG-compressed at quality {result['jpeg_quality']}" if result.get("jpeg_quality") else ""),
             f"{'metric':24s}{'generated':>14s}{'real test floor':>18s}"]
    for title, key in rows:
        if key in g or key in r:
            fmt = (lambda d: f"{d[key]:.4f} ± {d['kid_std']:.4f}") if key == "kid" else (lambda d: f"{d[key]:.4f}")
            lines.append(f"{title:24s}{fmt(g) if key in g else '':>14s}{fmt(r) if key in r else '':>18s}")
    return "\n".join(lines)


def main(argv):
    F = flags.FLAGS
    if F.n < 100:
        raise UsageError(f"--n must be >= 100 (FID needs a covariance), got {F.n}")
    dataset = F.dataset if F["dataset"].present else ""  # the one the model was trained on
    check_jpeg_quality(F.jpeg_quality)
    result = evaluate(F.model_dir, F.n, F.features, dataset, F.data_dir, F.inception_path, F.seed,
                      jpeg_quality=F.jpeg_quality)
    out = F.out or os.path.join(F.model_dir, f"eval_{result['features']}_n{F.n}"
                                             f"{f'_jpeg{F.jpeg_quality}' if F.jpeg_quality else ''}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(format_table(result))
    print(f"wrote {out}")


def check_jpeg_quality(quality):
    if not 0 <= quality <= 95:
        raise UsageError(f"--jpeg_quality must be an IJG quality in 1..95 (0: off), got {quality}")


def define_jpeg_flag(what):
    flags.DEFINE_integer("jpeg_quality", 0, f"{what} JPEG-compressed at this IJG quality with 4:2:0 chroma before "
                         "scoring (75: the shared CIFAR-10 copy's own compression, docs/evaluation.md); 0: off.")


def define_flags():
    flags.DEFINE_string("model_dir", "models/dcgan", "Exported generator to evaluate.")
    flags.DEFINE_integer("n", 10000, "Generated images to score.")
    flags.DEFINE_string("out", "", "JSON results file; default <model_dir>/eval_<features>_n<N>[_jpeg<Q>].json.")
    define_jpeg_flag("Score the samples and the real floor")
    define_config_flags(("dataset", "data_dir", "seed") + FEATURE_SETTINGS)


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    define_flags()
    run(main)

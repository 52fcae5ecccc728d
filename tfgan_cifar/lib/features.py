"""Feature extractors for evaluation, and cached real-data reference statistics.

  inception  TF-GAN's Inception v3 from TF-Hub (pool_3 2048-d features, logits for IS), at 299x299:
             the numbers papers report. `--inception_path` takes a local copy of the model (a SavedModel
             directory); downloads are cached under data/tfhub (TFHUB_CACHE_DIR overrides).
  evaluator  the project's own classifier for the dataset (make evaluator), which works offline and also
             gives the class accuracy of conditional samples.
"""
import hashlib
import json
import os
import sys

import numpy as np

from tfgan_cifar.lib.config import FEATURES
from tfgan_cifar.lib.errors import UsageError
from tfgan_cifar.lib.images import map_batches

TFHUB_HOST = "tfhub.dev"


class Extractor:
    """name, and __call__(uint8 images [N, H, W, 3]) -> (features [N, D], logits [N, K])."""
    name = ""
    has_class_head = False  # True when logits index the dataset's classes (class accuracy is meaningful)

    def describe(self):
        """What the features are, to print next to every figure computed from them."""
        return self.name


class InceptionExtractor(Extractor):
    name = "inception"

    def __init__(self, path=None, cache_dir="data/tfhub"):
        from tfgan_cifar.lib import tfgan_compat
        os.environ.setdefault("TFHUB_CACHE_DIR", os.path.abspath(cache_dir))
        handle = path or tfgan_compat.eval.INCEPTION_TFHUB
        if path and not os.path.isdir(path):
            raise UsageError(f"--inception_path {path!r} is not a directory (expected a SavedModel of TF-GAN's "
                             f"Inception); or use --features=evaluator")
        if not path and not _cached(handle) and not _reachable(TFHUB_HOST):
            raise UsageError(f"cannot download the Inception model from {TFHUB_HOST} (offline?); pass "
                             f"--inception_path=DIR with a local copy, or use --features=evaluator")
        import tensorflow_hub as hub
        try:
            self.module = hub.load(handle)
        except Exception as e:
            raise UsageError(f"cannot load the Inception model from {handle} ({type(e).__name__}); pass "
                             f"--inception_path=DIR, or use --features=evaluator")
        self.pool, self.logits = tfgan_compat.eval.INCEPTION_FINAL_POOL, tfgan_compat.eval.INCEPTION_OUTPUT
        self.description = f"inception (TF-GAN's Inception v3 {self.pool}, 299x299, from {handle})"
        self.key = hashlib.sha1(handle.encode()).hexdigest()[:8]

    def describe(self):
        return self.description

    def __call__(self, images_uint8, batch_size=100, progress=False):
        import tensorflow as tf

        def pool_and_logits(x):
            out = self.module(tf.image.resize(x, (299, 299), method="bilinear"))
            return tf.reshape(out[self.pool], [len(x), -1]), tf.reshape(out[self.logits], [len(x), -1])
        return map_batches(pool_and_logits, images_uint8, batch_size, progress)


class EvaluatorExtractor(Extractor):
    name = "evaluator"
    has_class_head = True

    def __init__(self, dataset, image_size, root="models/evaluator"):
        from tfgan_cifar.lib import evaluator
        path = evaluator.evaluator_dir(dataset, image_size, root)
        if not os.path.exists(os.path.join(path, "model.keras")):
            raise UsageError(f"no {dataset} evaluator at {image_size}px in {path!r}; train one with: make evaluator "
                             f"DATASET={dataset}" + (f" ARGS=--image_size={image_size}" if image_size != 32 else ""))
        if not evaluator.is_current(path):
            raise UsageError(f"the evaluator in {path!r} was trained on the images the metrics use as reference, "
                             f"which biases FID/KID/precision/recall against real held-out images; retrain it: make "
                             f"evaluator DATASET={dataset}" + (f" ARGS=--image_size={image_size}" if image_size != 32 else ""))
        self.evaluator = evaluator.load(path)
        self.meta = self.evaluator.meta
        self.key = evaluator_key(self.evaluator.path)

    def describe(self):
        return describe_evaluator(self.meta)

    def __call__(self, images_uint8, batch_size=500, progress=False):
        return self.evaluator(images_uint8, batch_size, progress)


def describe_evaluator(meta):
    """How a table names one trained evaluator (its evaluator.json): architecture, accuracy, training images."""
    return (f"evaluator ({meta.get('architecture', 'small')}, {meta['test_accuracy']:.1%} test accuracy, "
            f"trained on {meta['trained_on'].split('(')[-1].rstrip(')')})")


def evaluator_key(path):
    """Names one trained evaluator without loading it: the digest of its weights (evaluator.json's weights_sha256),
    so that the same weights, trained again or copied, are the same judge; an evaluator saved before it had one is
    named by its folder and its model file's time. Keys the reference statistics and tells the zoo and the tables
    that a record was scored by another evaluator."""
    try:
        with open(os.path.join(path, "evaluator.json")) as f:
            digest = json.load(f).get("weights_sha256")
    except (OSError, ValueError):
        digest = None
    if digest:
        return digest[:8]
    stamp = os.path.getmtime(os.path.join(path, "model.keras"))
    return hashlib.sha1(f"{path}:{stamp}".encode()).hexdigest()[:8]


def make(kind, dataset, image_size, inception_path="", evaluator_root="models/evaluator", cache_dir="data"):
    if kind == "inception":
        return InceptionExtractor(inception_path or None, os.path.join(cache_dir, "tfhub"))
    if kind == "evaluator":
        return EvaluatorExtractor(dataset, image_size, evaluator_root)
    raise UsageError(f"--features must be one of {', '.join(FEATURES)}, got {kind!r}")


def _cached(handle):
    cache = os.environ.get("TFHUB_CACHE_DIR", "")
    return bool(cache) and os.path.isdir(cache) and any(
        os.path.exists(os.path.join(cache, d, "saved_model.pb")) for d in os.listdir(cache))


def _reachable(host):
    from tfgan_cifar.lib.data import _reachable as reachable
    return reachable(host)


def reference_tag(dataset, split, image_size, classes):
    """Names a real reference set in the statistics cache."""
    subset = "all" if not classes else "-".join(map(str, classes))
    return f"{dataset.replace(os.sep, '_').replace(':', '_')}_{split}_{image_size}px_classes-{subset}"


def real_reference(extractor, dataset, train_set, image_size, classes=None, cache_dir="data/reference_stats",
                   limit=None, seed=0, progress=False):
    """The metrics' real reference: the reference part of the train split (data.reference_part, which the
    evaluator never saw), at most `limit` of its images drawn at random; (statistics, cache path)."""
    from tfgan_cifar.lib import data
    part = data.reference_part(train_set)
    if limit:
        part = data.random_subset(part, limit, seed)
    tag = reference_tag(dataset, "train-reference", image_size, classes)
    return reference(extractor, data.resize_uint8(part.images, image_size), tag, cache_dir, progress, part.labels)


def reference(extractor, images_uint8, tag, cache_dir="data/reference_stats", progress=False, labels=None):
    """Features/logits of a real image set, computed once per (extractor, dataset/split/size tag, count) and
    cached as .npz (mean, covariance, features for KID and precision/recall, logits, and the images' labels
    when given, for the intra-class diversity)."""
    path = os.path.join(cache_dir, f"{tag}_{extractor.name}-{extractor.key}_n{len(images_uint8)}.npz")
    if os.path.exists(path):
        problem = None
        try:
            with np.load(path) as cached:
                stats = {k: cached[k] for k in cached.files}
            problem = _stats_problem(stats, len(images_uint8), labels)
            if problem is None:
                return stats, path
        except Exception as e:  # truncated zip, garbage bytes, ...
            problem = f"unreadable ({type(e).__name__})"
        print(f"warning: cached reference statistics {path} are {problem}; computing them again", file=sys.stderr)
    feats, logits = extractor(images_uint8, progress=progress)
    stats = dict(features=feats.astype(np.float32), logits=logits.astype(np.float32), mu=feats.mean(0),
                 sigma=np.cov(feats, rowvar=False))
    if labels is not None:
        stats["labels"] = np.asarray(labels, np.int32)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **stats)
    os.replace(tmp, path)
    return stats, path


def _stats_problem(stats, n, labels=None):
    """Why cached statistics of n images (with these labels, if given) cannot be used, or None."""
    keys = {"features", "logits", "mu", "sigma"} | ({"labels"} if labels is not None else set())
    if not keys <= set(stats):
        return f"missing {', '.join(sorted(keys - set(stats)))}"
    features, mu, sigma = stats["features"], stats["mu"], stats["sigma"]
    d = features.shape[-1] if features.ndim == 2 else -1
    if features.shape != (n, d) or mu.shape != (d,) or sigma.shape != (d, d) or len(stats["logits"]) != n:
        return f"of the wrong shape (features {features.shape}, mu {mu.shape}, sigma {sigma.shape} for {n} images)"
    if not all(np.all(np.isfinite(stats[k])) for k in keys):
        return "non-finite"
    if labels is not None and not np.array_equal(stats["labels"], np.asarray(labels)):
        return "of other labels"
    return None

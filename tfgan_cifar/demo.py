"""The offline main job (`make demo`): a class-conditional GAN learns the built-in `shapes` data in a few
CPU minutes; its export draws one row per shape, measured with the shapes evaluator next to real images.

    python -m tfgan_cifar.demo [--epochs=N] [--out=samples/demo.png]

1. the shapes evaluator (models/evaluator/shapes_32/), trained once if missing;
2. training: `acgan --preset=demo` on `shapes` (see gans/acgan.py), exported to models/acgan/;
3. samples/demo.png: 10 rows, one per shape, from the export alone;
4. under every judge: FID, class accuracy and the share of samples recognised with confidence >= 0.9 (the
   evaluator), SWD and the two-sample test (lib/judges.py), each next to the same figure for real held-out
   images (the floor).
"""
import time

import numpy as np
from absl import flags

from tfgan_cifar.lib.errors import UsageError

RECOGNISED = 0.9  # evaluator confidence above which a sample counts as recognised


def recognised(logits, labels):
    """Share of images whose evaluator class is their label with softmax probability >= RECOGNISED."""
    logits = np.asarray(logits, np.float64)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return float(np.mean((probs.argmax(-1) == labels) & (probs.max(-1) >= RECOGNISED)))


def run(epochs, out, n, model="acgan", preset="demo", run_dir="", export_dir="models", examples=20000):
    from tfgan_cifar.lib import data, evaluator, features, images, judges, latent, metrics, savedmodel
    from tfgan_cifar import gans, train
    start = time.perf_counter()
    if not evaluator.is_current(evaluator.evaluator_dir("shapes", 32)):
        print("training the shapes evaluator once (models/evaluator/shapes_32/)")
        evaluator.train("shapes", epochs=1, examples=examples, verbose=2)
    config = gans.make_config(model, preset, dataset="shapes", examples=examples, fid_every=0, run_dir=run_dir,
                              export_dir=export_dir, **({"epochs": epochs} if epochs else {}))
    _, run_dir, path = train.train(config, verbose=2)
    trained = time.perf_counter() - start

    loaded, meta = savedmodel.load(path)
    per_class = n // meta["num_classes"]
    labels = np.repeat(np.arange(meta["num_classes"], dtype=np.int32), per_class)
    z = latent.latent_vectors(len(labels), meta["nz"], 0)
    fake = savedmodel.generate(loaded, z, labels)
    rows = fake[np.concatenate([np.flatnonzero(labels == c)[:10] for c in range(meta["num_classes"])])]
    images.save_png(out, images.grid(rows, rows=meta["num_classes"]), scale=2)

    extractor = features.make("evaluator", "shapes", 32)
    real = data.load("shapes", "train", examples=examples)
    reference, _ = features.real_reference(extractor, "shapes", real, 32, limit=10000)
    held_out = data.random_subset(data.load("shapes", "test", examples=examples), len(labels))
    independent = judges.Reference(data.reference_part(real).images)
    scores = {}
    for name, imgs, labs in (("samples", fake, labels), ("real", held_out.images, held_out.labels)):
        feats, logits = extractor(imgs)
        result = metrics.score(reference, feats, logits, labs, class_head=True, precision_recall_k=0)
        scores[name] = dict(fid=result["fid"], class_accuracy=result["class_accuracy"],
                            recognised=recognised(logits, labs), **independent.score(imgs))
    print(f"\ndemo: {model} --preset={preset}, {config.epochs} epochs on shapes ({config.precision}), trained and "
          f"exported in {trained:.0f} s "
          f"(run {run_dir}, export {path})")
    print(f"grid: {out} (one row per shape: {', '.join(meta['class_names'])})")
    print(f"{len(labels)} samples vs {len(reference['features'])} training images the evaluator never saw:")
    print(f"  {'':22s}{'samples':>10s}{'real images (floor)':>22s}")
    for key, title, fmt in (("fid", "FID", "{:.2f}"), ("class_accuracy", "class accuracy", "{:.3f}"),
                            ("recognised", f"recognised (p >= {RECOGNISED})", "{:.3f}"), ("swd", "SWD", "{:.2f}"),
                            ("c2st", "two-sample acc.", "{:.3f}")):
        print(f"  {title:22s}{fmt.format(scores['samples'][key]):>10s}{fmt.format(scores['real'][key]):>22s}")
    print(f"total {time.perf_counter() - start:.0f} s")
    return scores


def main(argv):
    F = flags.FLAGS
    epochs = F.epochs if F["epochs"].present else 0  # 0: the demo preset's
    if epochs < 0 or not 100 <= F.n <= 10000:
        raise UsageError("--epochs must be >= 1 and --n in 100..10000")
    if not F.out.endswith(".png"):
        raise UsageError(f"--out must end in .png, got {F.out!r}")
    run(epochs, F.out, F.n, run_dir=F.run_dir, export_dir=F.export_dir, examples=F.examples)


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run as run_command
    from tfgan_cifar.lib.config import define_flags
    define_flags(("epochs", "run_dir", "export_dir", "examples"))
    flags.DEFINE_integer("n", 2560, "Samples for the figures.")
    flags.DEFINE_string("out", "samples/demo.png", "The grid.")
    run_command(main)

"""Train the project's evaluator (lib/evaluator.py) for a dataset: the offline feature extractor of FID/IS/KID
and the class-accuracy judge.

    python -m tfgan_cifar.train_evaluator --dataset=cifar10     # airbench, -> models/evaluator/cifar10_32/
    python -m tfgan_cifar.train_evaluator --dataset=shapes      # the small CNN, -> models/evaluator/shapes_32/
"""
import json

from absl import flags

from tfgan_cifar.lib.evaluator import ARCHITECTURES, evaluator_dir, load, train
from tfgan_cifar.lib.errors import UsageError

RECORD_KEYS = ("dataset", "architecture", "test_accuracy", "test_accuracy_tta", "test_images", "trained_on", "epochs",
               "batch_size", "train_seconds", "precision", "cpu")


def main(argv):
    F = flags.FLAGS
    if F.evaluator_epochs < 0 or F.evaluator_batch_size < 0 or F.image_size not in (32, 64):
        raise UsageError("--evaluator_epochs and --evaluator_batch_size must be >= 1 (0: the architecture's default) "
                         "and --image_size 32 or 64")
    out = evaluator_dir(F.dataset, F.image_size, F.out_root)
    if F.record_only:
        if not F.record:
            raise UsageError("--record_only needs --record=FILE")
        meta = load(out).meta
    else:
        meta = train(F.dataset, F.data_dir, F.image_size, F.evaluator_epochs or None, F.evaluator_batch_size or None,
                     F.examples, F.seed, out_dir=out, architecture=F.architecture or None).meta
    tta = f" ({meta['test_accuracy_tta']:.4f} with test-time flips and shifts)" if "test_accuracy_tta" in meta else ""
    print(f"evaluator ({meta.get('architecture', 'small')}) test accuracy {meta['test_accuracy']:.4f}{tta} on "
          f"{meta['test_images']} {F.dataset} test images; trained in {meta['train_seconds']:.0f} s on {meta['cpu']} "
          f"({meta['precision']}); in {out}")
    if F.record:
        from tfgan_cifar.lib.images import atomic_write_bytes
        atomic_write_bytes(F.record, (json.dumps({k: meta[k] for k in RECORD_KEYS if k in meta}, indent=1) + "\n").encode())
        print(f"wrote {F.record}")


if __name__ == "__main__":
    from tfgan_cifar.lib.config import DATA_SETTINGS, define_flags
    from tfgan_cifar.lib.errors import run
    define_flags(DATA_SETTINGS + ("seed",))
    flags.DEFINE_string("architecture", "", f"One of {', '.join(ARCHITECTURES)}; default: small for shapes, "
                        "airbench for every other dataset.")
    flags.DEFINE_integer("evaluator_epochs", 0, "The classifier's training epochs; 0: the architecture's default.")
    flags.DEFINE_integer("evaluator_batch_size", 0, "The classifier's batch size; 0: the architecture's default "
                         "(airbench 1024, small 128).")
    flags.DEFINE_string("out_root", "models/evaluator", "Evaluators are saved to <out_root>/<dataset>_<size>/.")
    flags.DEFINE_string("record", "", "Also write the accuracy, training time and CPU to this JSON file (e.g. "
                        "docs/results/evaluator.json).")
    flags.DEFINE_bool("record_only", False, "Do not train: write --record from the evaluator already in --out_root.")
    run(main)

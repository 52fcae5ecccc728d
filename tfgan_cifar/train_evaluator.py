"""Train the project's evaluator (lib/evaluator.py) for a dataset: the offline feature extractor of FID/IS/KID
and the class-accuracy judge.

    python -m tfgan_cifar.train_evaluator --dataset=shapes --epochs=3      # -> models/evaluator/shapes_32/
"""
from absl import flags

from tfgan_cifar.lib.evaluator import evaluator_dir, train
from tfgan_cifar.lib.errors import UsageError


def main(argv):
    F = flags.FLAGS
    if F.epochs < 1 or F.batch_size < 1 or F.image_size not in (32, 64):
        raise UsageError("--epochs and --batch_size must be >= 1 and --image_size 32 or 64")
    ev = train(F.dataset, F.data_dir, F.image_size, F.epochs, F.batch_size, F.examples, F.seed,
               out_dir=evaluator_dir(F.dataset, F.image_size, F.out_root))
    print(f"evaluator test accuracy {ev.meta['test_accuracy']:.4f} on {ev.meta['test_images']} {F.dataset} "
          f"test images; saved to {evaluator_dir(F.dataset, F.image_size, F.out_root)}")


if __name__ == "__main__":
    from tfgan_cifar.lib.config import define_data_flags
    from tfgan_cifar.lib.errors import run
    define_data_flags()
    flags.DEFINE_integer("epochs", 3, "Training epochs.")
    flags.DEFINE_integer("batch_size", 128, "Batch size.")
    flags.DEFINE_integer("seed", 0, "Random seed.")
    flags.DEFINE_string("out_root", "models/evaluator", "Evaluators are saved to <out_root>/<dataset>_<size>/.")
    run(main)

"""Export a training run's generator (its newest checkpoint, or --checkpoint) as a SavedModel that samples
with `tf.saved_model.load` alone (see lib/savedmodel.py for the format).

    python -m tfgan_cifar.export --run_dir=runs/dcgan/20260101-120000 [--export_dir=models]
"""
import os

from tfgan_cifar import gans, train
from tfgan_cifar.lib import data, savedmodel
from tfgan_cifar.lib.errors import UsageError


def export_from_checkpoint(run_dir, export_dir="models", prefix="", raw=False):
    """Rebuild the run's model, restore a checkpoint (default newest) and export its generator (the EMA one
    for --ema runs, unless raw)."""
    config = gans.saved_config(os.path.join(run_dir, "config.json"))
    class_names = _class_names(config)
    gan, checkpoint, step, epoch = train.build(config, len(class_names))
    train.restore(checkpoint, run_dir, prefix)
    meta = savedmodel.metadata(gan, class_names, int(epoch), int(step))
    return savedmodel.save_generator(gan, os.path.join(export_dir, config.model), meta, raw=raw)


def _class_names(config):
    kind, _ = data.parse_dataset(config.dataset)
    if kind in data.KNOWN_CLASSES:
        return data.KNOWN_CLASSES[kind]
    return tuple(data.load(config.dataset, "train", config.data_dir, config.image_size).class_names)



def main(argv):
    from absl import flags

    FLAGS = flags.FLAGS
    if not FLAGS.run_dir or not os.path.exists(os.path.join(FLAGS.run_dir, "config.json")):
        raise UsageError(f"--run_dir must name a training run (a directory with config.json), got {FLAGS.run_dir!r}")
    if os.path.exists(FLAGS.export_dir) and not os.path.isdir(FLAGS.export_dir):
        raise UsageError(f"--export_dir: {FLAGS.export_dir!r} is a file, not a folder")
    path = export_from_checkpoint(FLAGS.run_dir, FLAGS.export_dir, FLAGS.checkpoint, raw=FLAGS.raw)
    print(f"exported {path}")


if __name__ == "__main__":
    from absl import flags

    from tfgan_cifar.lib.config import define_flags
    from tfgan_cifar.lib.errors import run
    define_flags(["run_dir", "export_dir"])  # the run to export (config.json, checkpoints/), where it goes
    flags.DEFINE_string("checkpoint", "", "A specific checkpoint prefix; default: the newest in the run.")
    flags.DEFINE_bool("raw", False, "For a run trained with --ema: export the trained generator, not its average.")
    run(main)

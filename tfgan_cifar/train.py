"""Train a GAN variant, log to TensorBoard, checkpoint every epoch, export the generator.

    python -m tfgan_cifar.train --model=dcgan --dataset=shapes --epochs=5
    python -m tfgan_cifar.train --model=dcgan --resume            # continue the newest run
"""
import os
import shutil
import sys
import time

from tfgan_cifar.lib import config as config_lib
from tfgan_cifar.lib.errors import Interrupted, StorageError, TrainingDiverged, UsageError, storage_failure
from tfgan_cifar.lib.locking import FolderLock

RUNS_ROOT = "runs"


def build(config, num_classes, strategy=None):
    """Model, optimizers and the checkpoint that holds everything a resume needs, made in the scope of
    `strategy` (both optimizers are built there too, see GAN.compile)."""
    import tensorflow as tf

    from tfgan_cifar import gans
    with (strategy or tf.distribute.get_strategy()).scope():
        gan = gans.build(config, num_classes)
        gan.compile(jit_compile=config.jit_compile)
    # Counters kept by callbacks outside the replica function: plain (not mirrored) variables.
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = tf.train.Checkpoint(generator=gan.generator, discriminator=gan.discriminator,
                                     g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
                                     rng=gan.seed_generator.state, step=step, epoch=epoch)
    return gan, checkpoint, step, epoch


def checkpoint_prefixes(run_dir):
    """The run's checkpoint prefixes, oldest first, from TF's `checkpoint` index file; where that index is
    garbled, from the checkpoint files themselves (and the index is rewritten from them, with a warning)."""
    import re

    import tensorflow as tf
    folder = os.path.join(run_dir, "checkpoints")
    try:
        state = tf.train.get_checkpoint_state(folder)
        return list(state.all_model_checkpoint_paths) if state else []
    except Exception as e:  # a torn or overwritten text proto: ParseError, UnicodeDecodeError, ...
        numbers = sorted(int(m.group(1)) for f in os.listdir(folder) if (m := re.fullmatch(r"ckpt-(\d+)\.index", f)))
        prefixes = [os.path.join(folder, f"ckpt-{n}") for n in numbers]
        print(f"warning: {folder}/checkpoint is unreadable ({type(e).__name__}); found {len(prefixes)} "
              f"checkpoint(s) by their files and rewrote the index", file=sys.stderr)
        os.remove(os.path.join(folder, "checkpoint"))
        if prefixes:
            tf.compat.v1.train.update_checkpoint_state(folder, prefixes[-1], prefixes)
        return prefixes


def restore(checkpoint, run_dir, prefix=""):
    """Restore `prefix`, or else the newest checkpoint of the run that reads back (a checkpoint cut short by
    a crash or a full disk is skipped with a warning). Returns the prefix restored."""
    if prefix:
        if not os.path.exists(prefix + ".index"):
            known = ", ".join(os.path.basename(p) for p in checkpoint_prefixes(run_dir)) or "none"
            raise UsageError(f"--checkpoint {prefix!r} does not exist (the run has: {known})")
        checkpoint.restore(prefix).assert_existing_objects_matched()
        return prefix
    candidates = list(reversed(checkpoint_prefixes(run_dir)))
    for candidate in candidates:
        try:
            checkpoint.restore(candidate).assert_existing_objects_matched()
            return candidate
        except Exception as e:  # a torn file fails in many ways (OpError, IndexError, ValueError, ...)
            print(f"warning: skipping unreadable checkpoint {candidate}: {str(e).splitlines()[0]}", file=sys.stderr)
    raise UsageError(f"no readable checkpoint in {run_dir}/checkpoints to restore")


def console_verbosity():
    """Keras's verbose for a run shown to a person: a bar on a terminal, a line per epoch in a log file."""
    return 1 if sys.stdout.isatty() else 2


def train(config, verbose=1):
    """Run training as configured; returns (gan, run_dir, export_path)."""
    import keras
    import tensorflow as tf

    from tfgan_cifar import gans
    from tfgan_cifar.lib import data, distribute, images, precision, savedmodel

    precision.resolve(config)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = distribute.make_strategy(config.strategy)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise UsageError(f"--batch_size {config.batch_size} (the global batch) must be a multiple of the "
                         f"{replicas} replicas of --strategy={config.strategy}")
    scratch = None
    if not distribute.is_chief(strategy):  # other workers run the same loop but write to a scratch directory
        import tempfile
        scratch = tempfile.mkdtemp(prefix="tfgan_cifar_worker_")
        config.run_dir, config.export_dir, config.fid_every = os.path.join(scratch, "run"), scratch, 0
    savedmodel.check_export_dir(config.export_dir, config.model)  # refused before the images are drawn or read
    extractor = _extractor(config)
    train_set = data.load(config.dataset, "train", config.data_dir, config.image_size, config.classes,
                          config.examples, config.seed)
    train_set = gans.VARIANTS[config.model].prepare_data(train_set, "train", config)
    if len(train_set) < config.batch_size:
        raise UsageError(f"--batch_size {config.batch_size} is larger than the training split ({len(train_set)} images)")

    run_dir = config.run_dir or os.path.join(RUNS_ROOT, config.model, time.strftime("%Y%m%d-%H%M%S"))
    config.run_dir = run_dir
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot write run directory {run_dir!r}: {e.strerror}")
    with FolderLock(os.path.join(run_dir, ".lock"), f"run directory {run_dir}"):
        if not config.resume:
            _claim_run_dir(run_dir, config.overwrite)
        try:  # a resumed run's too: what it may change (a higher --epochs, ...) is what the run is now
            images.atomic_write_bytes(os.path.join(run_dir, "config.json"), config.to_json().encode())
        except OSError as e:
            raise UsageError(f"cannot write run directory {run_dir!r}: {e.strerror}")
        return _train_locked(config, train_set, extractor, strategy, scratch, verbose)


RUN_FILES = ("config.json", "checkpoints", "metrics.jsonl", "steps.jsonl", "tensorboard", "samples",
             "loss_curve.png", "fid_curve.png", "swd_curve.png", "warnings.jsonl")


def _claim_run_dir(run_dir, overwrite):
    """A new run needs a folder without another run in it: refuse one, or with --overwrite empty it."""
    found = [name for name in RUN_FILES if os.path.exists(os.path.join(run_dir, name))]
    if not found:
        return
    if not overwrite:
        raise UsageError(f"{run_dir} already holds a run ({', '.join(found)}); continue it with --resume, or choose "
                         f"a fresh --run_dir, or pass --overwrite to replace it")
    for name in found:
        target = os.path.join(run_dir, name)
        shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)


def _train_locked(config, train_set, extractor, strategy, scratch, verbose):
    import keras
    import tensorflow as tf

    from tfgan_cifar.lib import callbacks, data, distribute, savedmodel
    run_dir = config.run_dir

    gan, checkpoint, step, epoch = build(config, len(train_set.class_names), strategy)
    if config.resume:
        checkpoint_prefixes(run_dir)  # repairs a garbled index before the manager reads it
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(run_dir, "checkpoints"),
                                         max_to_keep=config.keep_checkpoints, step_counter=step)
    if config.resume:
        prefix = restore(checkpoint, run_dir)
        callbacks.truncate_logs(run_dir, int(epoch), int(step))
        print(f"resumed {prefix} at epoch {int(epoch)}, step {int(step)}")
    if int(epoch) >= config.epochs:
        print(f"run already has {int(epoch)} epochs (>= --epochs {config.epochs}); exporting only")

    steps_per_epoch = config.steps_per_epoch or len(train_set) // config.batch_size
    # The batch stream is a function of (seed, global step), so a resume continues at the exact data position.
    batches_from = lambda global_step: data.make_pipeline(train_set, config.batch_size, config.image_size,
                                                           seed=config.seed, repeat=True, start_step=global_step,
                                                           **type(gan).pipeline_options(config))
    first_batch = [t[:64].numpy() for t in next(iter(batches_from(0)))]
    gan.use_data(train_set)
    log = callbacks.TrainingLog(run_dir, gan, step, gan.grid_inputs(first_batch, config.classes), first_batch[0],
                                config.batch_size, config.log_every, steps_per_epoch)
    guard = callbacks.NaNGuard(step, config.nan_patience)
    checkpointer = callbacks.Checkpointer(manager, step, epoch, steps_per_epoch, config.ckpt_every)
    budget = callbacks.TimeBudget(config.time_budget) if config.time_budget else None
    decay = None
    if config.lr_decay == "linear":
        rates = [(gan.g_optimizer, config.g_lr), (gan.d_optimizer, config.d_lr)]
        decay = callbacks.LinearDecay(rates, step, config.epochs * steps_per_epoch, budget, config.lr_decay_start)
    interrupt = callbacks.Interrupt(checkpointer)
    unjudged = lambda: guard.tripped_at is not None or interrupt.requested
    quality = _quality_monitor(config, extractor, gan, train_set, run_dir, step, unjudged) if config.fid_every else None
    tensorboard = keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard"), update_freq="epoch")
    # Keras calls callbacks in list order, and each place here has a reason: the learning rates are set before
    # the step; the budget's clock is read before anything is logged; SWD/FID join the epoch's logs before
    # TrainingLog records them; the guard comes after TrainingLog, which counts the step; the checkpoint after
    # the guard's repair; a Ctrl-C's checkpoint after that; TensorBoard last, with the complete logs.
    cbs = [cb for cb in (decay, budget, quality, log, guard, checkpointer, interrupt, tensorboard) if cb is not None]
    if config.strategy == "multiworker":  # Keras 3's fit fails there (keras-team/keras#20585)
        fit = lambda ds, **kw: distribute.custom_fit(gan, ds, strategy, callbacks=cbs, verbose=verbose, **kw)
    else:
        fit = lambda ds, **kw: gan.fit(ds, callbacks=cbs, verbose=verbose, shuffle=False, **kw)
    stopped_at_once = False  # by a second Ctrl-C, or one outside fit
    try:
        with interrupt:
            # A run stopped mid-epoch (a kill after a --ckpt_every checkpoint, or --time_budget) first finishes that
            # epoch's remaining steps, then runs whole epochs.
            start_epoch, offset = int(epoch), int(step) - int(epoch) * steps_per_epoch
            if start_epoch < config.epochs and offset:
                fit(batches_from(int(step)), epochs=start_epoch + 1, initial_epoch=start_epoch,
                    steps_per_epoch=steps_per_epoch - offset)
                start_epoch += 1
            if start_epoch < config.epochs and not gan.stop_training:
                fit(batches_from(start_epoch * steps_per_epoch), epochs=config.epochs, initial_epoch=start_epoch,
                    steps_per_epoch=steps_per_epoch)
            if interrupt.requested:
                raise Interrupted(_interrupted_message(step, manager, run_dir))
            if guard.tripped_at is not None or checkpointer.nonfinite:
                why = (f"{config.nan_patience} consecutive steps had non-finite losses or gradients (none was "
                       f"applied)" if guard.tripped_at is not None else
                       f"{len(checkpointer.nonfinite)} weights became non-finite (e.g. {checkpointer.nonfinite[0]}; is "
                       f"a learning rate too large?) and were not saved")
                stopped_at = guard.tripped_at if guard.tripped_at is not None else int(step)
                raise TrainingDiverged(f"training stopped at step {stopped_at}: {why}; "
                                       + _export_after_divergence(config, gan, checkpoint, manager, quality, train_set,
                                                                  epoch, step))
            path = os.path.join(config.export_dir, config.model)
            if quality is not None and quality.best_saved_at == (int(epoch), int(step)):
                path = savedmodel.promote(path)  # the last epoch was the best: best/ holds these very weights; copied
            else:
                meta = savedmodel.metadata(gan, train_set.class_names, int(epoch), int(step))
                path = savedmodel.save_generator(gan, path, meta)
            if quality is not None:
                chosen, why = quality.outcome(int(epoch))
                if chosen != int(epoch):
                    savedmodel.promote(path)
                print(f"exported epoch {chosen} to {path}: {why}")
    except KeyboardInterrupt:
        stopped_at_once = True
    except (OSError, tf.errors.OpError) as e:
        reason = storage_failure(e)
        if reason is None:
            raise
        raise StorageError(f"a write under {run_dir} or {config.export_dir} failed at step {int(step)}: {reason}; "
                           f"the last good checkpoint ({manager.latest_checkpoint or 'none'}) and the previous export "
                           f"are intact: free space, then continue with --resume --run_dir={run_dir}")
    if stopped_at_once:  # raised here, not in the except clause, so the interrupted frames are freed first
        raise Interrupted(_interrupted_message(step, manager, run_dir))
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    return gan, run_dir, path


def _interrupted_message(step, manager, run_dir):
    return (f"interrupted at step {int(step)}; the last checkpoint is "
            f"{manager.latest_checkpoint or 'none (nothing to resume)'}; resume with: python -m "
            f"tfgan_cifar.train --resume --run_dir={run_dir}")


def _export_after_divergence(config, gan, checkpoint, manager, quality, train_set, epoch, step):
    """What a diverged run exports, as the end of its one-line message. A checkpoint saved during the streak
    can be finite and still ruined (a huge learning rate: D's weights near 1e30, G never updated), so only an
    epoch the quality monitor judged is trusted over an existing export: the run's best epoch is promoted; with
    none, the previous export stays, and only where there is none is the last finite checkpoint exported."""
    from tfgan_cifar.lib import monitor, savedmodel
    path = os.path.join(config.export_dir, config.model)
    if quality is not None and quality.best_saved_at is not None:
        savedmodel.promote(path)
        return (f"exported epoch {quality.best_saved_at[0]}, this run's best on every judge "
                f"({monitor.describe(quality.exported, quality.judges)}), to {path}")
    if savedmodel.exists(path):
        return (f"no epoch of this run was judged good, so the previous export in {path} is unchanged (the last finite "
                f"checkpoint is {manager.latest_checkpoint or 'none'}; make export RUN={config.run_dir} exports it)")
    if not manager.latest_checkpoint:
        return "no finite checkpoint to export and no previous export"
    prefix = restore(checkpoint, config.run_dir)
    savedmodel.save_generator(gan, path, savedmodel.metadata(gan, train_set.class_names, int(epoch), int(step)))
    return f"there was no export yet: exported the last finite checkpoint {prefix} (epoch {int(epoch)}) to {path}"


def _extractor(config):
    """The feature extractor for per-epoch FID, or None (monitor off, or no evaluator trained for this dataset
    yet: then SWD alone watches). Created before anything is written, so a bad --features leaves no trace."""
    from tfgan_cifar.lib import features
    if not config.fid_every:
        return None
    try:
        return features.make(config.features, config.dataset, config.image_size, config.inception_path,
                             cache_dir=config.data_dir)
    except UsageError as e:
        if config.features != "evaluator":
            raise
        print(f"FID per epoch is off ({e}); the sliced Wasserstein distance watches the epochs")
        return None


def _quality_monitor(config, extractor, gan, train_set, run_dir, step, unjudged):
    from tfgan_cifar.lib import data, features, judges, monitor, savedmodel
    real = judges.Reference(data.resize_uint8(data.reference_part(train_set).images, config.image_size),
                            limit=monitor.MONITOR_SWD_IMAGES, seed=config.seed)
    reference = features.real_reference(extractor, config.dataset, train_set, config.image_size, config.classes,
                                        os.path.join(config.data_dir, "reference_stats"), limit=10000)[0] \
        if extractor else None
    best_path = os.path.join(config.export_dir, config.model, savedmodel.BEST)

    def export_best(epoch, best_by):
        meta = savedmodel.metadata(gan, train_set.class_names, epoch, int(step))
        savedmodel.save_generator(gan, best_path, dict(meta, best_by=best_by))
        return int(step)

    return monitor.QualityMonitor(gan, real, extractor, reference, config.fid_every, config.fid_samples,
                                  export_best, run_dir, config.classes, config.epochs, config.stop_on_collapse,
                                  unjudged)


def main(argv):
    from absl import flags

    from tfgan_cifar import gans
    config = config_lib.config_from_flags(flags.FLAGS, gans.VARIANTS)
    gan, run_dir, path = train(config, verbose=console_verbosity())
    print(f"run directory:  {run_dir}  (TensorBoard: make tensorboard, or tensorboard --logdir {run_dir})")
    print(f"sample grids:   {run_dir}/samples/   loss curve: {run_dir}/loss_curve.png")
    print(f"exported model: {path}")


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    config_lib.define_train_flags()
    run(main)

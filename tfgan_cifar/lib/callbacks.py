"""Training callbacks: per-step TensorBoard scalars and img/s, per-epoch sample grids, metrics.jsonl,
loss-curve plot, and checkpoints. Every file is written atomically (temp file, then rename), except that
per-step records are appended to steps.jsonl as they come (a torn last line is dropped on reading)."""
import json
import os
import signal
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from tfgan_cifar.lib import images as imgs

METRICS_FILE = "metrics.jsonl"
STEPS_FILE = "steps.jsonl"
WARNINGS_FILE = "warnings.jsonl"  # collapse warnings of the quality monitor
# A train_step's logs hold each metric twice: `d_loss`, the running mean since the epoch began (Keras's
# convention: the progress bar and the epoch record), and `d_loss@step`, this step's own value (the curves).
STEP_SUFFIX = "@step"
EMA_DECAY = 0.98  # the smoothed per-step curves, `<metric>_ema`: an exponential moving average over every step


def take_step_values(logs):
    """{metric: this step's value}, removed from `logs` (so the progress bar and epoch logs keep the means)."""
    if not logs:
        return {}
    return {k[:-len(STEP_SUFFIX)]: float(logs.pop(k)) for k in [k for k in logs if k.endswith(STEP_SUFFIX)]}


def read_jsonl(path):
    """The records of a .jsonl file; a final line torn by a kill mid-append is dropped."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    return [json.loads(line) for line in lines]


def epoch_records(run_dir):
    """The run's per-epoch records (metrics.jsonl), oldest first; the one reader of that file."""
    return read_jsonl(os.path.join(run_dir, METRICS_FILE))


def append_jsonl(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def write_jsonl(path, records):
    imgs.atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in records).encode())


def truncate_logs(run_dir, epoch, step):
    """After a resume from (epoch, step): drop log records the restored state has not reached yet (and a
    line torn by the kill), so the resumed run logs each epoch and step exactly once."""
    for name, key, limit in ((METRICS_FILE, "epoch", epoch), (STEPS_FILE, "step", step), (WARNINGS_FILE, "epoch", epoch)):
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            write_jsonl(path, [r for r in read_jsonl(path) if r[key] <= limit])


class TrainingLog(keras.callbacks.Callback):
    """What a person watches during training: progress-bar img/s; every `log_every` steps, TensorBoard scalars
    and a steps.jsonl record of that step's own values (losses, D(x), D(G(z)), class accuracies: not Keras's
    running means since the epoch began, which draw a staircase) with their moving averages over every step
    (`<metric>_ema`), and img/s; real/fake grids and epoch time each epoch, a sample grid PNG from a fixed z
    per epoch, metrics.jsonl, and loss_curve.png."""

    def __init__(self, run_dir, gan, step, grid_inputs, real_batch, batch_size, log_every,
                 steps_per_epoch):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.run_dir, self.gan, self.step = run_dir, gan, step
        self.grid_inputs = grid_inputs  # fixed across epochs, so grids show the same samples evolving
        self.real_grid = imgs.grid(imgs.to_uint8(real_batch), rows=grid_inputs["rows"])
        self.batch_size, self.log_every = batch_size, log_every
        self.writer = tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard", "steps"))
        self.steps = read_jsonl(os.path.join(run_dir, STEPS_FILE))
        self.img_per_s = None
        self.ema = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = self.last = time.perf_counter()
        self.epoch_steps = 0

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        rate = self.batch_size / max(now - self.last, 1e-9)
        self.last = now
        # Exponential smoothing; the first step of an epoch includes tracing/prefetch warm-up.
        self.img_per_s = rate if self.img_per_s is None or self.epoch_steps == 0 else 0.9 * self.img_per_s + 0.1 * rate
        self.epoch_steps += 1
        step = int(self.step.assign_add(1))
        values = take_step_values(logs)
        for name, value in values.items():
            self.ema[name] = value if name not in self.ema else EMA_DECAY * self.ema[name] + (1 - EMA_DECAY) * value
        if logs is not None:
            logs["img/s"] = self.img_per_s  # shown by the progress bar
        if step % self.log_every == 0 and values:
            values.update({f"{k}_ema": v for k, v in self.ema.items()}, **{"img/s": self.img_per_s})
            self.steps.append(dict(step=step, **values))
            # Appended as they come, so a kill loses none that a checkpoint covers (a resume drops later ones).
            append_jsonl(os.path.join(self.run_dir, STEPS_FILE), self.steps[-1])
            with self.writer.as_default(step=step):
                for name, value in values.items():
                    tf.summary.scalar(name, value)

    def on_epoch_end(self, epoch, logs=None):
        take_step_values(logs)  # the epoch's figures are its means
        seconds = self.last - self.epoch_start  # training time: up to the last step, not FID or grids
        done = epoch + 1
        grid = self.gan.grid_image(self.grid_inputs)
        imgs.save_png(os.path.join(self.run_dir, "samples", f"epoch_{done:04d}.png"), grid, scale=2)
        record = dict(epoch=done, step=int(self.step), epoch_seconds=round(seconds, 3),
                      img_per_s=round(self.epoch_steps * self.batch_size / seconds, 2),
                      **{k: float(v) for k, v in (logs or {}).items() if k != "img/s"})
        if int(self.step) % self.steps_per_epoch:
            record["partial"] = True  # cut short (--time_budget); a resume finishes this epoch and replaces the record
        with self.writer.as_default(step=int(self.step)):
            tf.summary.scalar("epoch_seconds", seconds)
            tf.summary.image("fake", grid[None])
            tf.summary.image("real", self.real_grid[None])
        self.writer.flush()
        metrics = [r for r in epoch_records(self.run_dir) if r["epoch"] < done]
        write_jsonl(os.path.join(self.run_dir, METRICS_FILE), metrics + [record])
        plot_losses(os.path.join(self.run_dir, "loss_curve.png"), self.steps, metrics + [record])


def plot_losses(path, steps, epochs):
    """Each *_loss metric: its value at every logged step (thin), its moving average over every step (line) and
    the epoch means (markers)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    names = sorted({k for r in epochs for k in r if k.endswith("_loss")})
    for i, name in enumerate(names):
        colour = f"C{i}"
        logged = [r for r in steps if name in r]
        if logged:
            xs = [r["step"] for r in logged]
            ax.plot(xs, [r[name] for r in logged], color=colour, alpha=0.3, lw=0.8)
            if all(f"{name}_ema" in r for r in logged):
                ax.plot(xs, [r[f"{name}_ema"] for r in logged], color=colour, lw=1.5,
                        label=f"{name} (moving average, decay {EMA_DECAY})")
        ax.plot([r["step"] for r in epochs], [r[name] for r in epochs], "o", color=colour, label=f"{name} (epoch mean)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (thin: the logged steps' values)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    imgs.save_figure(path, fig)
    plt.close(fig)


class Checkpointer(keras.callbacks.Callback):
    """Saves generator, discriminator, both optimizers, the RNG state and epoch/step every `every` steps and
    at each epoch end. `epoch` counts *completed* epochs, so an epoch cut short (--time_budget) resumes
    mid-epoch. TF writes a checkpoint's files before it names it in the `checkpoint` index, so a kill at any
    moment leaves the previous checkpoint the newest readable one. Must come after TrainingLog (which counts
    the step) and NaNGuard (which repairs state after a bad step)."""

    def __init__(self, manager, step, epoch, steps_per_epoch, every=0):
        super().__init__()
        self.manager, self.step, self.epoch = manager, step, epoch
        self.steps_per_epoch, self.every = steps_per_epoch, every
        self.saved_step = None
        self.nonfinite = []  # names of non-finite weights found at a save: training stops, nothing is saved

    def save(self):
        from tfgan_cifar.lib.savedmodel import nonfinite_variables
        step = int(self.step)
        if step != self.saved_step and not self.nonfinite:  # an epoch end on a --ckpt_every multiple saves once
            # An update can make weights non-finite from finite losses and gradients (e.g. a huge learning
            # rate), which the per-step guard does not see: such weights are never saved.
            self.nonfinite = nonfinite_variables(self.model.generator.variables + self.model.discriminator.variables)
            if self.nonfinite:
                self.model.stop_training = True
                return
            self.epoch.assign(step // self.steps_per_epoch)
            try:
                self.manager.save(checkpoint_number=step)
            except tf.errors.OpError as e:
                # TF reports a full file system as an OpError (EFBIG even as OutOfRangeError, which fit would take
                # for the end of the data): make it an OSError, which train() reports as a storage failure.
                raise OSError(f"writing checkpoint {step} failed: {e.message}") from e
            self.saved_step = step

    def on_train_batch_end(self, batch, logs=None):
        if self.every and int(self.step) % self.every == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()


class Interrupt(keras.callbacks.Callback):
    """Ctrl-C while training (used as `with Interrupt(checkpointer) as interrupt:` around fit): the step in
    progress finishes, a checkpoint of it is saved, training stops and `requested` tells the caller why; a
    second Ctrl-C stops at once (KeyboardInterrupt). Stopping between steps instead of raising
    KeyboardInterrupt wherever the main thread is lets fit close TensorFlow's iterators and threads normally
    (an exception from inside fit sometimes ended the process with SIGSEGV on the way out). Where SIGINT is
    ignored (a background job) or handled by someone else, nothing changes. Must come after Checkpointer."""

    def __init__(self, checkpointer):
        super().__init__()
        self.checkpointer, self.requested, self.installed = checkpointer, False, False

    def __enter__(self):
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            try:
                signal.signal(signal.SIGINT, self._request)
                self.installed = True
            except ValueError:  # not the main thread, which alone may set handlers
                pass
        return self

    def __exit__(self, *exc_info):
        if self.installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.installed = False

    def _request(self, signum, frame):
        self.requested = True
        self.__exit__()  # a second Ctrl-C raises KeyboardInterrupt
        sys.stderr.write("\nstopping after this step (press Ctrl-C again to stop at once)\n")

    def on_train_batch_end(self, batch, logs=None):
        if self.requested:
            self.checkpointer.save()
            self.model.stop_training = True


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` of wall-clock time have passed since it was made (the epoch in
    progress is closed normally, so its grid, log record and checkpoint are written)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.start = seconds, time.perf_counter()

    def fraction(self):
        """Share of the budget used so far."""
        return (time.perf_counter() - self.start) / self.seconds

    def on_train_batch_end(self, batch, logs=None):
        if self.fraction() > 1:
            self.model.stop_training = True


class LinearDecay(keras.callbacks.Callback):
    """--lr_decay=linear: before each step, every optimizer's learning rate is its base rate until `start`
    of the run is done, then falls linearly to 0 at its end; progress is the share of the run done: of its
    total steps, or of its time budget when that is used up sooner. Ending on small steps damps the
    oscillation a GAN otherwise stops in; a later start keeps the fast early progress of the full rates."""

    def __init__(self, rates, step, total_steps, budget=None, start=0.0):
        super().__init__()
        self.rates, self.step, self.total_steps, self.budget, self.start = rates, step, total_steps, budget, start

    def progress(self):
        done = int(self.step) / self.total_steps
        return min(1.0, max(done, self.budget.fraction() if self.budget else 0.0))

    def on_train_batch_begin(self, batch, logs=None):
        factor = min(1.0, (1.0 - self.progress()) / (1.0 - self.start))
        for optimizer, rate in self.rates:
            getattr(optimizer, "inner_optimizer", optimizer).learning_rate = rate * factor


class NaNGuard(keras.callbacks.Callback):
    """Stops training after `patience` consecutive steps whose updates were skipped as non-finite
    (GAN.step never applies them). A bad batch can still poison batch-norm moving statistics in the
    forward pass, so the small non-trainable state is copied after each good step and restored after a
    bad one. Must come after TrainingLog, which counts the step. `tripped_at` is that global step."""

    def __init__(self, step, patience):
        super().__init__()
        self.step, self.patience = step, patience
        self.consecutive, self.tripped_at = 0, None

    def on_train_begin(self, logs=None):
        self.state = self.model.generator.non_trainable_variables + self.model.discriminator.non_trainable_variables
        self.good = [v.numpy() for v in self.state]
        self.seen = int(self.model.nonfinite_updates.numpy())

    def on_train_batch_end(self, batch, logs=None):
        count = int(self.model.nonfinite_updates.numpy())
        bad = count > self.seen
        self.seen = count
        if bad:
            self.consecutive += 1
            for variable, good in zip(self.state, self.good):
                if not np.all(np.isfinite(variable.numpy())):
                    variable.assign(good)
        else:
            self.consecutive = 0
            self.good = [v.numpy() for v in self.state]
        if self.consecutive >= self.patience:
            self.tripped_at = int(self.step)
            self.model.stop_training = True

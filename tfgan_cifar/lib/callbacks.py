"""Training callbacks: per-step TensorBoard scalars and img/s, per-epoch sample grids, metrics.jsonl,
loss-curve plot, and checkpoints. Every file is written atomically (temp file, then rename), except that
per-step records are appended to steps.jsonl as they come (a torn last line is dropped on reading)."""
import json
import os
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


# Collapse: a figure well off its best for COLLAPSE_EPOCHS checks running. Distances (lower is better) at more than
# 1/COLLAPSE_SHARE of their best, coverages (higher is better) under COLLAPSE_SHARE of it.
COLLAPSE_SHARE, COLLAPSE_EPOCHS = 0.7, 2
LOWER_IS_BETTER = ("swd", "fid")
# The monitor's SWD compares this many of the samples (and reference images): at 2,560 it cost 8 of a 55-s
# dcgan epoch on CIFAR-10 (AMD EPYC, 2 cores); make eval's uses all N. Like FID, SWD depends on the count.
MONITOR_SWD_IMAGES = 1024
HIGHER_IS_BETTER = ("intra_class_diversity", "recall")


class QualityMonitor(keras.callbacks.Callback):
    """Every `every` epochs and after the last one, `n` samples scored against the real reference: the sliced
    Wasserstein distance (lib/swd.py; it needs no trained network, so it is always on), and with an evaluator
    also FID, IS, KID, precision and recall (conditional models: class accuracy and intra-class diversity,
    which shows a collapse within classes). The figures join the epoch's logs (so TensorBoard and metrics.jsonl get them); a curve is
    plotted; the best epoch's generator is exported, judged by FID where there is an evaluator, else by SWD.
    A collapse (a figure well off its best two checks running) is printed, written to TensorBoard as text and
    to warnings.jsonl (make report marks it), and with `stop_on_collapse` ends the run. Must come before
    TrainingLog in the callback list."""

    def __init__(self, gan, real, extractor, reference, every, n, export_best, run_dir, classes=None,
                 final_epoch=None, stop_on_collapse=False, guard=None):
        super().__init__()
        self.guard = guard  # a NaNGuard: an epoch it stopped is not judged (its weights are not to be trusted)
        self.gan, self.real, self.extractor, self.reference = gan, real, extractor, reference
        self.every, self.n, self.export_best, self.run_dir, self.classes = every, n, export_best, run_dir, classes
        self.final_epoch, self.stop_on_collapse = final_epoch, stop_on_collapse
        self.best_by = "fid" if extractor else "swd"
        self.history = [r for r in read_jsonl(os.path.join(run_dir, METRICS_FILE)) if "swd" in r]
        judged = [r for r in self.history if self.best_by in r]
        best = min(judged, key=lambda r: r[self.best_by], default=None)
        self.best, self.best_epoch = (best[self.best_by], best["epoch"]) if best else (float("inf"), None)
        self.best_epoch_this_run = None  # set when this process exports a best epoch (it is then in best/)
        self.last_judged = None  # (epoch, value) of the latest check
        self.writer = tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard", "quality"))

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.final_epoch or self.guard is not None and self.guard.tripped_at:
            return
        start = time.perf_counter()
        values = self.measure(epoch)
        values["quality_seconds"] = time.perf_counter() - start  # the monitor's own cost, beside epoch_seconds
        if logs is not None:
            logs.update(values)
        self.last_judged = (done, values[self.best_by])
        if values[self.best_by] < self.best:
            self.best, self.best_epoch = values[self.best_by], done
            self.export_best(done, self.best_by)
            self.best_epoch_this_run = done
        self.history = [r for r in self.history if r["epoch"] < done] + [dict(epoch=done, **values)]
        self.watch_collapse(done)
        what = f"{self.extractor.name} features, " if self.extractor else ""
        plot_quality(os.path.join(self.run_dir, f"{self.best_by}_curve.png"),
                     [r for r in self.history if self.best_by in r], self.best_by, f"{what}{self.n} samples")

    def measure(self, epoch):
        from tfgan_cifar.lib import metrics
        fake, labels = self.gan.sample_images(self.n, seed=epoch, classes=self.classes)
        values = self.real.score(fake[:MONITOR_SWD_IMAGES], two_sample_test=False)
        if self.extractor:
            feats, logits = self.extractor(fake)
            result = metrics.score(self.reference, feats, logits, labels, self.extractor.has_class_head)
            for key in ("fid", "inception_score", "kid", "precision", "recall", "class_accuracy",
                        "intra_class_diversity", "intra_class_diversity_min"):  # the last three: conditional models
                if key in result:
                    values[key] = result[key]
        return values

    def watch_collapse(self, epoch):
        """Warn when a figure has been well off its best for the last COLLAPSE_EPOCHS checks (once per streak)."""
        for key in LOWER_IS_BETTER + HIGHER_IS_BETTER:
            series = [(r["epoch"], r[key]) for r in self.history if key in r]
            if len(series) <= COLLAPSE_EPOCHS:
                continue
            lower = key in LOWER_IS_BETTER
            off = lambda value, best: value > best / COLLAPSE_SHARE if lower else value < best * COLLAPSE_SHARE
            flags = []
            for i, (_, value) in enumerate(series):
                best = (min if lower else max)(v for _, v in series[:i + 1])
                flags.append(off(value, best))
            if flags[-COLLAPSE_EPOCHS:] != [True] * COLLAPSE_EPOCHS or flags[-COLLAPSE_EPOCHS - 1]:
                continue
            best_epoch, best = (min if lower else max)(series, key=lambda item: item[1])
            text = (f"collapse at epoch {epoch}: {key} {series[-1][1]:.3f} against its best {best:.3f} (epoch "
                    f"{best_epoch}), {COLLAPSE_EPOCHS} checks running"
                    + ("; stopping (--stop_on_collapse)" if self.stop_on_collapse else
                       "; the best epoch stays exported (--stop_on_collapse ends a run here)"))
            print(f"warning: {text}", flush=True)
            append_jsonl(os.path.join(self.run_dir, WARNINGS_FILE), dict(epoch=epoch, figure=key, value=series[-1][1],
                                                                       best=best, best_epoch=best_epoch, text=text))
            with self.writer.as_default(step=epoch):
                tf.summary.text("collapse", text)
            self.writer.flush()
            if self.stop_on_collapse:
                self.model.stop_training = True

    def outcome(self, last_epoch):
        """(epoch to export, one sentence why): the best checked epoch where it beats the last one."""
        name = self.best_by.upper()
        if self.best_epoch is None:
            return last_epoch, "no quality check ran"
        if self.last_judged is None or self.last_judged[0] != last_epoch:
            return last_epoch, f"its {name} was not checked (the best checked, epoch {self.best_epoch}, is in best/)"
        if self.best_epoch != last_epoch and self.best < self.last_judged[1]:
            return self.best_epoch, (f"the best by {name}: {self.best:.3f} against {self.last_judged[1]:.3f} for the "
                                     f"last epoch, {last_epoch}")
        return last_epoch, f"the last epoch is the best by {name} ({self.last_judged[1]:.3f})"


def plot_quality(path, records, key, subtitle):
    """`key` (fid or swd) per epoch, the best epoch starred."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    name = key.upper()
    epochs, values = [r["epoch"] for r in records], [r[key] for r in records]
    ax.plot(epochs, values, "o-", label=name)
    best = int(np.argmin(values))
    ax.plot([epochs[best]], [values[best]], "r*", markersize=14,
            label=f"best: epoch {epochs[best]} ({values[best]:.2f})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(name)
    ax.set_title(f"{name} per epoch ({subtitle})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    imgs.save_figure(path, fig)
    plt.close(fig)


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

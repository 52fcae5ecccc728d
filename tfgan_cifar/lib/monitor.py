"""The quality monitor: every epoch's samples scored while training, the export chosen on every judge it has,
and collapses caught."""
import os
import time

import keras
import tensorflow as tf

from tfgan_cifar.lib import images as imgs
from tfgan_cifar.lib.callbacks import METRICS_FILE, WARNINGS_FILE, append_jsonl, read_jsonl

# Collapse: a figure well off its bar for COLLAPSE_EPOCHS checks running. Distances (lower is better) at more than
# 1/COLLAPSE_SHARE of their bar, coverages (higher is better) under COLLAPSE_SHARE of it. The bar is the figure's
# COLLAPSE_RANK-th best so far, not its best: one lucky check set the bar alone and raised false alarms (SWD on
# 1,024 images varies by about a fifth; CIFAR-10 dcgan epoch 20, acgan epoch 10), and with the 2nd best every
# collapse of three 30-epoch runs is still caught (docs/training.md).
COLLAPSE_SHARE, COLLAPSE_EPOCHS, COLLAPSE_RANK = 0.7, 2, 2
LOWER_IS_BETTER = ("swd", "fid")
HIGHER_IS_BETTER = ("intra_class_diversity", "recall")
# The monitor's SWD compares this many of the samples (and reference images): at 2,560 it cost 8 of a 55-s
# dcgan epoch on CIFAR-10 (AMD EPYC, 2 cores); make eval's uses all N. Like FID, SWD depends on the count.
MONITOR_SWD_IMAGES = 1024
# The judges the export is chosen on, those of them a run has (FID needs an evaluator). Picking by FID alone
# exported a 30-epoch acgan whose SWD was 1.5x its 10-epoch export's (docs/training.md).
JUDGES = ("fid", "swd")


def worst_ratio(record, judged, judges):
    """`record`'s figure furthest from its best over `judged`, as value / best (1.0: the best on every judge)."""
    return max(record[key] / min(r[key] for r in judged) for key in judges)


def replay_exports(records, judges):
    """The records in the order they became the export: a checked epoch replaces the export when it is nearer
    the best on its worst judge than the export is, the bests taken over the epochs checked so far. (Only the
    export it would replace is compared: an older epoch's weights are gone.)"""
    judged, exports = [], []
    for record in records:
        if not all(key in record for key in judges):
            continue
        judged.append(record)
        if not exports or worst_ratio(record, judged, judges) < worst_ratio(exports[-1], judged, judges):
            exports.append(record)
    return exports


def describe(record, judges):
    return ", ".join(f"{key.upper()} {record[key]:.3f}" for key in judges)


class QualityMonitor(keras.callbacks.Callback):
    """Every `every` epochs and after the last one, `n` samples scored against the real reference: the sliced
    Wasserstein distance (lib/swd.py; it needs no trained network, so it is always on), and with an evaluator
    also FID, IS, KID, precision and recall (conditional models: class accuracy and intra-class diversity,
    which shows a collapse within classes). The figures join the epoch's logs (so TensorBoard and metrics.jsonl get them); a curve is
    plotted; the export follows `replay_exports` over FID and SWD (SWD alone without an evaluator).
    A collapse (a figure well off its 2nd best so far two checks running) is printed, written to TensorBoard as text and
    to warnings.jsonl (make report marks it), and with `stop_on_collapse` ends the run. Must come before
    TrainingLog in the callback list."""

    def __init__(self, gan, real, extractor, reference, every, n, export_best, run_dir, classes=None,
                 final_epoch=None, stop_on_collapse=False, unjudged=lambda: False):
        super().__init__()
        # True for an epoch stopped early for a reason that makes judging it wrong or unwanted (the NaN guard:
        # its weights are not to be trusted; Ctrl-C: the user wants out)
        self.unjudged = unjudged
        self.gan, self.real, self.extractor, self.reference = gan, real, extractor, reference
        self.every, self.n, self.export_best, self.run_dir, self.classes = every, n, export_best, run_dir, classes
        self.final_epoch, self.stop_on_collapse = final_epoch, stop_on_collapse
        self.judges = JUDGES if extractor else ("swd",)
        self.best_by = "+".join(self.judges)
        self.history = [r for r in read_jsonl(os.path.join(run_dir, METRICS_FILE)) if "swd" in r]
        self.exported = (replay_exports(self.history, self.judges) or [None])[-1]  # the record of the export
        # (epoch, step) when this process exports a best epoch (it is then in best/): a run ending at that very
        # step exports it by copying it instead of saving again
        self.best_saved_at = None
        self.last_judged = None  # the latest check's record
        self.writer = tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard", "quality"))

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.final_epoch or self.unjudged():
            return
        start = time.perf_counter()
        values = self.measure(epoch)
        values["quality_seconds"] = time.perf_counter() - start  # the monitor's own cost, beside epoch_seconds
        if logs is not None:
            logs.update(values)
        self.last_judged = dict(epoch=done, **values)
        self.history = [r for r in self.history if r["epoch"] < done] + [self.last_judged]
        if (replay_exports(self.history, self.judges) or [None])[-1] is self.last_judged:  # one rule, replayed
            self.exported = self.last_judged
            self.best_saved_at = (done, self.export_best(done, self.best_by))  # export_best returns the step
        self.watch_collapse(done)
        what = f"{self.extractor.name} features, " if self.extractor else ""
        plot_quality(os.path.join(self.run_dir, f"{self.judges[0]}_curve.png"), self.history, self.judges,
                     self.exported["epoch"], f"{what}{self.n} samples")

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
        """Warn when a figure has been well off its bar (its COLLAPSE_RANK-th best so far) for the last
        COLLAPSE_EPOCHS checks (once per streak)."""
        for key in LOWER_IS_BETTER + HIGHER_IS_BETTER:
            series = [(r["epoch"], r[key]) for r in self.history if key in r]
            if len(series) <= COLLAPSE_EPOCHS:
                continue
            lower = key in LOWER_IS_BETTER
            bar = lambda seen: sorted(seen, key=lambda item: item[1], reverse=not lower)[:COLLAPSE_RANK][-1]
            off = lambda value, best: value > best / COLLAPSE_SHARE if lower else value < best * COLLAPSE_SHARE
            flags = [off(value, bar(series[:i + 1])[1]) for i, (_, value) in enumerate(series)]
            if flags[-COLLAPSE_EPOCHS:] != [True] * COLLAPSE_EPOCHS or flags[-COLLAPSE_EPOCHS - 1]:
                continue
            best_epoch, best = bar(series)
            rank = {1: "best", 2: "2nd best", 3: "3rd best"}.get(COLLAPSE_RANK, f"{COLLAPSE_RANK}th best")
            text = (f"collapse at epoch {epoch}: {key} {series[-1][1]:.3f} against its {rank} {best:.3f} (epoch "
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
        """(epoch to export, one sentence why): the export unless the last epoch is as good on every judge."""
        names = " and ".join(key.upper() for key in self.judges)
        if self.exported is None:
            return last_epoch, "no quality check ran"
        if self.last_judged is None or self.last_judged["epoch"] != last_epoch:
            return last_epoch, (f"its {names} were not checked (the best checked, epoch {self.exported['epoch']}, "
                                f"is in best/)")
        if self.exported["epoch"] != last_epoch:
            judged = [r for r in self.history if all(key in r for key in self.judges)]
            ratio = lambda r: worst_ratio(r, judged, self.judges)
            return self.exported["epoch"], (
                f"the best on {names} together: {describe(self.exported, self.judges)} (within "
                f"{ratio(self.exported):.2f}x of each one's best), against {describe(self.last_judged, self.judges)} "
                f"({ratio(self.last_judged):.2f}x) for the last epoch, {last_epoch}")
        return last_epoch, f"the last epoch is the best on {names} together ({describe(self.last_judged, self.judges)})"


def plot_quality(path, records, judges, exported_epoch, subtitle):
    """Each judge's figure per epoch (one panel each), the exported epoch starred."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(judges), 1, figsize=(7, 2.2 + 1.8 * len(judges)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], judges):
        points = [(r["epoch"], r[key]) for r in records if key in r]
        epochs, values = [e for e, _ in points], [v for _, v in points]
        ax.plot(epochs, values, "o-", label=key.upper())
        if exported_epoch in epochs:
            value = values[epochs.index(exported_epoch)]
            ax.plot([exported_epoch], [value], "r*", markersize=14, label=f"exported: epoch {exported_epoch} "
                    f"({value:.2f})")
        ax.set_ylabel(key.upper())
        ax.grid(alpha=0.3)
        ax.legend()
    axes[-1, 0].set_xlabel("epoch")
    axes[0, 0].set_title(f"{' and '.join(k.upper() for k in judges)} per epoch ({subtitle})", fontsize=10)
    imgs.save_figure(path, fig)
    plt.close(fig)

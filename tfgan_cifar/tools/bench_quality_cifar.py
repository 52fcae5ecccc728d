"""Quality per CPU-minute on CIFAR-10 (a benchmark, not a test): a plain hand-written DCGAN against
tfgan_cifar's CPU recipe, each trained for the same wall-clock budget, then 10,000 samples of each scored
by three judges against the train split's reference part: Fréchet distance in the CIFAR-10 evaluator's
features, the sliced Wasserstein distance on pyramid patches, and a classifier two-sample test.

    python -m tfgan_cifar.tools.bench_quality_cifar --data_dir=DATA_DIR [--budget=600 --dcgan_preset=cpu_fast]
        [--levers='baseline; precision=mixed_bfloat16; ema=0.999'] [--repeats=3]

`--levers` adds sides: plain tfgan_cifar dcgan with one set of train flags each, so every lever's effect is
measured alone at the same budget. `--repeats` trains every side with that many seeds and compares medians
(identical settings differ by several FD from run to run on this CPU). Each run's result is cached, so an
interrupted bench continues; its samples are kept too, so a new judge (or a retrained evaluator) scores them
again without training.

DATA_DIR holds cifar-10-batches-py (python ../shared/cifar10/to_batches.py DATA_DIR makes one); the
evaluator comes from `make evaluator DATASET=cifar10 DATA_DIR=DATA_DIR`. Writes docs/results/quality_cifar.json and
the median run's grid of each side to docs/results/ (--out_dir).
"""
import json
import os
import time

import numpy as np
from absl import flags

from tfgan_cifar.lib.config import define_flags as define_config_flags
from tfgan_cifar.lib.errors import UsageError
from tfgan_cifar.lib.judges import NAMES, ratio
from tfgan_cifar.tools import results as results_format
from tfgan_cifar.tools.sweep import parse_levers

# What the reference is, so the comparison stays honest (and a test can check it).
REFERENCE = dict(layout="DCGAN 32x32", width=64, norm="batch", optimizer="Adam", lr=2e-4, beta1=0.5,
                 loss="non-saturating BCE", batch_size=64, precision="float32", ema=None, augmentation=None)


# A tfgan_cifar side's settings, reported with its result.
SETTINGS = ("preset", "precision", "ema", "diffaugment", "batch_size", "width", "g_lr", "d_lr", "beta1", "beta2",
            "loss", "norm", "simultaneous", "jit_compile", "lr_decay", "lr_decay_start", "seed")


def reference_dcgan(images_uint8, budget, seed=0, nz=100, width=64, batch_size=64):
    """The careful ~60-line DCGAN a user would write: train for `budget` seconds; returns (generate(z) ->
    uint8, steps). Deliberately independent of tfgan_cifar's models, losses and trainer."""
    import keras
    import tensorflow as tf
    from keras import layers
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_dtype_policy("float32")
    init = lambda: keras.initializers.RandomNormal(0.0, 0.02)
    g = keras.Sequential([keras.Input((nz,)), layers.Dense(4 * 4 * width * 4, use_bias=False, kernel_initializer=init()),
                          layers.Reshape((4, 4, width * 4)), layers.BatchNormalization(), layers.ReLU(),
                          layers.Conv2DTranspose(width * 2, 4, 2, "same", use_bias=False, kernel_initializer=init()),
                          layers.BatchNormalization(), layers.ReLU(),
                          layers.Conv2DTranspose(width, 4, 2, "same", use_bias=False, kernel_initializer=init()),
                          layers.BatchNormalization(), layers.ReLU(),
                          layers.Conv2DTranspose(3, 4, 2, "same", activation="tanh", kernel_initializer=init())])
    d = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(width, 4, 2, "same", kernel_initializer=init()),
                          layers.LeakyReLU(0.2),
                          layers.Conv2D(width * 2, 4, 2, "same", use_bias=False, kernel_initializer=init()),
                          layers.BatchNormalization(), layers.LeakyReLU(0.2),
                          layers.Conv2D(width * 4, 4, 2, "same", use_bias=False, kernel_initializer=init()),
                          layers.BatchNormalization(), layers.LeakyReLU(0.2), layers.Flatten(),
                          layers.Dense(1, kernel_initializer=init())])
    g_opt, d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(real):
        z = tf.random.normal([tf.shape(real)[0], nz])
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            fake = g(z, training=True)
            real_logits, fake_logits = d(real, training=True), d(fake, training=True)
            d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d.trainable_variables), d.trainable_variables))
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g.trainable_variables), g.trainable_variables))
        return d_loss, g_loss

    data = (tf.data.Dataset.from_tensor_slices(images_uint8).shuffle(len(images_uint8), seed=seed).repeat()
            .batch(batch_size, drop_remainder=True).map(lambda x: tf.cast(x, tf.float32) / 127.5 - 1.0)
            .prefetch(tf.data.AUTOTUNE))
    start, steps = time.perf_counter(), 0
    for real in data:
        step(real)
        steps += 1
        if time.perf_counter() - start > budget:
            break

    def generate(z):
        x = g(z, training=False).numpy()
        return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return generate, steps


def recipe_config(preset, budget, data_dir, work_dir, overrides=None, repeat=0):
    """tfgan_cifar's side: dcgan with the named preset (or other train flags `overrides`), for the budget;
    its `repeat`-th run adds that to the seed."""
    from tfgan_cifar.tools import sweep
    overrides = dict(overrides if overrides is not None else {"preset": preset})
    seed = overrides.get("seed", 0) + repeat
    return sweep.configure("dcgan", "cifar10", data_dir, budget, dict(overrides, seed=seed),
                           os.path.join(work_dir, side_name(overrides), f"seed{seed}"))


def side_name(overrides):
    from tfgan_cifar.tools import sweep
    return sweep.slug(overrides) or "baseline"


def settings_of(config):
    """What a tfgan_cifar side trained with: kept in its result, and a cached result of other settings is void."""
    return {k: getattr(config, k) for k in SETTINGS}


JUDGES = ("fd",) + NAMES  # Fréchet distance in the evaluator's features, then the judges that share nothing with it
GOAL = 0.5  # the recipe keeps at most half of the reference's distance, under every judge


def measure(name, work_dir, budget, samples, settings, train_and_sample, score, judged_by=""):
    """One run's result, cached in work_dir/name/ (result.json, samples.npz) so an interrupted bench continues;
    trained again when the budget, the sample count or the settings (e.g. a redefined preset) differ, and only
    scored again (`score(fake) -> {judge: value}`) when the judges (`judged_by`) differ."""
    from tfgan_cifar.lib import images
    folder = os.path.join(work_dir, name)
    path, samples_path = os.path.join(folder, "result.json"), os.path.join(folder, "samples.npz")
    cached = None
    if os.path.exists(path):
        with open(path) as f:
            cached = json.load(f)
        if (cached["budget_s"], cached["samples"], cached.get("settings")) != (budget, samples, settings):
            cached = None
    if cached and cached.get("judged_by") == judged_by:
        print(f"{name}: measured before, " + ", ".join(f"{k} {cached[k]:.3f}" for k in JUDGES if k in cached))
        return cached
    if cached and os.path.exists(samples_path):
        with np.load(samples_path) as kept:
            fake, steps = kept["images"], cached["steps"]
        print(f"{name}: trained before; scoring its samples", flush=True)
    else:
        print(f"{name}: training for {budget:g} s", flush=True)
        fake, steps = train_and_sample()
        os.makedirs(folder, exist_ok=True)
        images.save_png(os.path.join(folder, "grid.png"), images.grid(fake[:64]), scale=2)
        np.savez_compressed(samples_path + ".tmp.npz", images=fake)
        os.replace(samples_path + ".tmp.npz", samples_path)
    result = dict(name=name, budget_s=budget, samples=samples, steps=steps, settings=settings, judged_by=judged_by,
                  **score(fake))
    print(f"{name}: {steps} steps, " + ", ".join(f"{k} {result[k]:.3f}" for k in JUDGES if k in result), flush=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    return result


def side(name, runs):
    """A side's summary over its runs (one per seed): each judge's median, and the median run by FD (its grid)."""
    order = sorted(range(len(runs)), key=lambda i: runs[i]["fd"])
    medians = {k: float(np.median([r[k] for r in runs])) for k in JUDGES if all(k in r for r in runs)}
    return dict(name=name, **medians, median_run=runs[order[len(runs) // 2]]["name"],
                steps=int(np.median([r["steps"] for r in runs])), runs=runs)


def main(argv):
    from tfgan_cifar.lib import callbacks, data, features, judges, latent, metrics
    from tfgan_cifar import train
    F = flags.FLAGS
    if F.budget <= 0 or F.samples < 1000 or F.repeats < 1:
        raise UsageError("--budget must be > 0, --samples >= 1000 and --repeats >= 1")
    levers, repeats = parse_levers(F.levers), range(F.repeats)
    sides = [(side_name(o), o) for o in levers] + [(side_name({"preset": F.dcgan_preset}), {"preset": F.dcgan_preset})]
    configs = [[recipe_config(F.dcgan_preset, F.budget, F.data_dir, F.work_dir, o, k) for k in repeats]
               for _, o in sides]  # all validated before anything trains
    train_set = data.load("cifar10", "train", F.data_dir)  # a clear error without the CIFAR-10 batches
    extractor = features.make("evaluator", "cifar10", 32, cache_dir=F.data_dir)
    reference, _ = features.real_reference(extractor, "cifar10", train_set, 32, None,
                                           os.path.join(F.data_dir, "reference_stats"), progress=True)
    independent = judges.Reference(data.reference_part(train_set).images)
    score = lambda fake: dict(fd=metrics.fid_from_activations(reference["features"], extractor(fake)[0]),
                              **independent.score(fake))
    judged_by = f"{extractor.name}-{extractor.key} swd c2st"
    z = latent.latent_vectors(F.samples, 100, 0)

    def plain_dcgan(seed):
        def train_and_sample():
            generate, steps = reference_dcgan(train_set.images, F.budget, seed=seed)
            return np.concatenate([generate(z[i:i + 500]) for i in range(0, F.samples, 500)]), steps
        return train_and_sample

    def tfgan_cifar(config):
        def train_and_sample():
            gan, run_dir, _ = train.train(config, verbose=0)
            steps = callbacks.epoch_records(run_dir)[-1]["step"]
            return gan.sample_images(F.samples)[0], steps
        return train_and_sample

    results = dict(budget_s=F.budget, samples=F.samples, repeats=F.repeats, features=extractor.describe(),
                   reference_set=f"CIFAR-10 train, reference part ({len(reference['features']):,} images)")
    run = lambda name, seed, train_and_sample, settings: measure(
        f"{name}/seed{seed}", F.work_dir, F.budget, F.samples, settings, train_and_sample, score, judged_by)
    results["reference"] = side("reference", [run("reference", k, plain_dcgan(k), dict(REFERENCE, seed=k))
                                              for k in repeats])
    *results["levers"], results["recipe"] = [
        side(name, [run(name, c.seed, tfgan_cifar(c), settings_of(c)) for c in runs])
        for (name, _), runs in zip(sides, configs)]
    results["ratios"] = {k: ratio(k, results["recipe"][k], results["reference"][k]) for k in JUDGES}
    os.makedirs(F.out_dir, exist_ok=True)
    grids = {}
    for which in ("reference", "recipe"):  # the median run's grid of each side, small enough to commit
        grids[results[which]["median_run"]] = publish_grid(
            os.path.join(F.work_dir, results[which]["median_run"], "grid.png"),
            os.path.join(F.out_dir, f"quality_cifar_{which}.png"))
    config_of = {f"{name}/seed{c.seed}": c for (name, _), runs in zip(sides, configs) for c in runs}
    results["runs"] = [record(run, results, grids.get(run["name"]), config_of.get(run["name"]), F.out_dir)
                       for summary in [results["reference"]] + results["levers"] + [results["recipe"]]
                       for run in summary["runs"]]
    out = os.path.join(F.out_dir, "quality_cifar.json")
    from tfgan_cifar.lib.images import atomic_write_bytes
    atomic_write_bytes(out, (json.dumps(results, indent=1) + "\n").encode())
    print(results_format.sides_table(results))
    print("recipe against reference: " + ", ".join(f"{k} {v:.3f}" for k, v in results["ratios"].items()) +
          f" (goal: <= {GOAL} under every judge); wrote {out}")


def publish_grid(source, path):
    """A cached run's 2x grid as a 1x, 256-colour PNG (a committed result stays well under 150 KB)."""
    from PIL import Image

    from tfgan_cifar.lib import images
    image = Image.open(source).convert("RGB")
    image = np.asarray(image.resize((image.width // 2, image.height // 2), Image.NEAREST))
    images.atomic_write_bytes(path, images.png_bytes(image, palette=True))
    return os.path.basename(path)


def record(run, results, grid, config=None, out_dir="."):
    """A run in the format of every docs/results file (tools/results.py); FD, SWD and the two-sample test are
    measured here. `grid`: its PNG in `out_dir`, if it has one."""
    return dict(name=run["name"], model="dcgan", args=(results_format.args_of(config) if config is not None
                                                       else "hand-written reference DCGAN (REFERENCE)"),
                dataset="cifar10", epochs=None, steps=run["steps"], seconds=results["budget_s"], n=results["samples"],
                reference=results["reference_set"], features=results["features"], fid=run["fd"],
                swd=run.get("swd"), c2st=run.get("c2st"),
                **{k: None for k in ("inception_score", "kid", "precision", "recall", "class_accuracy")},
                grid=grid, **({"grid_sha256": results_format.file_sha256(os.path.join(out_dir, grid))} if grid else {}),
                date=time.strftime("%Y-%m-%d"), versions=results_format.versions())


def define_flags():
    define_config_flags(["data_dir"])  # cifar-10-batches-py and the evaluator's reference cache
    flags.DEFINE_float("budget", 600.0, "Training wall-clock seconds of each side.")
    flags.DEFINE_integer("samples", 10000, "Generated images scored per run.")
    flags.DEFINE_integer("repeats", 1, "Runs per side (seeds 0..N-1 added to the side's seed); sides are "
                         "compared by their median Fréchet distance.")
    flags.DEFINE_string("dcgan_preset", "cpu_fast", "dcgan's named preset used as tfgan_cifar's recipe.")
    flags.DEFINE_string("out_dir", "docs/results", "Where quality_cifar.json (run records, each side's median and "
                        "the ratio) and the median run's grid of each side go.")
    flags.DEFINE_string("work_dir", "bench/quality_cifar_runs", "Where each side's run, grid and cached result go "
                        "(a side measured before with the same budget and samples is not run again).")
    flags.DEFINE_string("levers", "", "Extra dcgan settings to measure, each alone: `;`-separated sets of train "
                        "flags, e.g. 'baseline; precision=mixed_bfloat16; ema=0.999; g_lr=1e-4 d_lr=4e-4'.")


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    define_flags()
    run(main)

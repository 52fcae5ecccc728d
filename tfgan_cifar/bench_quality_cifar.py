"""Quality per CPU-minute on CIFAR-10 (a benchmark, not a test): a plain hand-written DCGAN against
tfgan_cifar's CPU recipe, each trained for the same wall-clock budget, then 10,000 samples of each scored
with the project's CIFAR-10 evaluator (Fréchet distance in its features against the training set).

    python -m tfgan_cifar.bench_quality_cifar --data_dir=DATA_DIR [--budget=600 --preset=cpu_fast]

DATA_DIR holds cifar-10-batches-py (python ../shared/cifar10/to_batches.py DATA_DIR makes one); the
evaluator comes from `make evaluator DATASET=cifar10 DATA_DIR=DATA_DIR`. Writes bench/quality.json and
a sample grid of each side to bench/.
"""
import json
import os
import time

import numpy as np
from absl import flags

from tfgan_cifar.errors import UsageError

# What the reference is, so the comparison stays honest (and a test can check it).
REFERENCE = dict(layout="DCGAN 32x32", width=64, norm="batch", optimizer="Adam", lr=2e-4, beta1=0.5,
                 loss="non-saturating BCE", batch_size=64, precision="float32", ema=None, augmentation=None)


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


def recipe_config(preset, budget, data_dir, work_dir, seed=0):
    """tfgan_cifar's CPU recipe: dcgan with the named preset, for the budget."""
    from tfgan_cifar import gans
    from tfgan_cifar.config import RunConfig, apply_preset, validate, variant_preset
    config = RunConfig(model="dcgan", dataset="cifar10", data_dir=data_dir, epochs=100000, time_budget=budget,
                       fid_every=0, seed=seed, log_every=100, run_dir=os.path.join(work_dir, "recipe"),
                       export_dir=os.path.join(work_dir, "models"))
    apply_preset(config, variant_preset(gans.VARIANTS["dcgan"], preset), set(), gans.VARIANTS)
    validate(config, gans.VARIANTS)
    return config


def main(argv):
    from tfgan_cifar import data, features, images, metrics, train
    F = flags.FLAGS
    if F.budget <= 0 or F.samples < 1000:
        raise UsageError("--budget must be > 0 and --samples >= 1000")
    config = recipe_config(F.preset, F.budget, F.data_dir, F.work_dir)  # validates --preset first
    train_set = data.load("cifar10", "train", F.data_dir)  # a clear error without the CIFAR-10 batches
    extractor = features.make("evaluator", "cifar10", 32, cache_dir=F.data_dir)
    reference, _ = features.reference(extractor, train_set.images, features.reference_tag("cifar10", "train", 32, None),
                                      os.path.join(F.data_dir, "reference_stats"), progress=True)
    z = np.random.default_rng(0).standard_normal((F.samples, 100)).astype(np.float32)
    results = dict(budget_s=F.budget, samples=F.samples, features=extractor.name, reference_set="CIFAR-10 train (50,000)")

    print(f"reference: plain DCGAN for {F.budget:g} s")
    generate, steps = reference_dcgan(train_set.images, F.budget)
    fake = np.concatenate([generate(z[i:i + 500]) for i in range(0, F.samples, 500)])
    results["reference"] = dict(REFERENCE, steps=steps, fd=metrics.fid_from_activations(reference["features"],
                                                                                      extractor(fake)[0]))
    images.save_png(os.path.join(F.out_dir, "quality_reference.png"), images.grid(fake[:64]), scale=2)

    print(f"recipe: tfgan_cifar dcgan --preset={F.preset} for {F.budget:g} s")
    gan, run_dir, _ = train.train(config, verbose=0)
    fake, _ = gan.sample_images(F.samples)
    steps = json.loads(open(os.path.join(run_dir, "metrics.jsonl")).readlines()[-1])["step"]
    results["recipe"] = dict(preset=F.preset, precision=config.precision, ema=config.ema,
                             diffaugment=config.diffaugment, steps=steps,
                             fd=metrics.fid_from_activations(reference["features"], extractor(fake)[0]))
    images.save_png(os.path.join(F.out_dir, "quality_recipe.png"), images.grid(fake[:64]), scale=2)
    results["ratio"] = results["recipe"]["fd"] / results["reference"]["fd"]
    os.makedirs(F.out_dir, exist_ok=True)
    with open(os.path.join(F.out_dir, "quality.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"Fréchet distance ({extractor.name} features, {F.samples} samples vs CIFAR-10 train), {F.budget:g} s each:")
    print(f"  plain hand-written DCGAN  {results['reference']['fd']:8.3f}  ({results['reference']['steps']} steps)")
    print(f"  tfgan_cifar {F.preset:12s} {results['recipe']['fd']:8.3f}  ({results['recipe']['steps']} steps)")
    print(f"  ratio {results['ratio']:.3f} (target <= 0.6); wrote {F.out_dir}/quality.json")


def define_flags():
    flags.DEFINE_string("data_dir", "data", "Directory with cifar-10-batches-py and the evaluator's reference cache.")
    flags.DEFINE_float("budget", 600.0, "Training wall-clock seconds of each side.")
    flags.DEFINE_integer("samples", 10000, "Generated images scored per side.")
    flags.DEFINE_string("preset", "cpu_fast", "dcgan's named preset used as tfgan_cifar's recipe.")
    flags.DEFINE_string("out_dir", "bench", "Where quality.json and the two grids go.")
    flags.DEFINE_string("work_dir", "bench/quality_cifar_runs", "Where the recipe's run goes.")


if __name__ == "__main__":
    from tfgan_cifar.errors import run
    define_flags()
    run(main)

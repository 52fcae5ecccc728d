"""Throughput benchmark (not a test).

    python -m tfgan_cifar.tools.bench [--steps=60 --repeats=3 --batch_size=64] [--variants=all --batch_sizes=64,128]

1. DCGAN `fit` vs a plain hand-written tf.function + GradientTape loop over the same networks and
   batches, and the tf.data pipeline alone; evaluator feature-extraction img/s and a 10,000-sample FID.
2. Every variant at each of --batch_sizes, each in its own process (so its peak RSS is its own): `fit`
   vs the minimal loop (the variant's train_step in a tf.function, no Keras trainer), `fit` with
   --jit_compile (XLA), and peak resident memory.
3. Precision: every variant at the first batch size in each of --precisions, XLA off and on, as ratios to
   float32 without XLA.
4. Spectral norm: the train step of `dcgan --norm=spectral` and `sagan --conditioning=concat` with the
   project's SpectralNorm against Keras 3's SpectralNormalization (the layer it replaced).
Prints tables and writes bench/results.json. Runs alternate (fit, loop, ...) and the best of each is
kept, so a noisy neighbour hurts both sides alike.
"""
import json
import os
import platform
import time

from absl import flags

from tfgan_cifar.lib.config import define_flags as define_config_flags

def _hand_loop_step(gan):
    """The plain DCGAN step, written out without Keras' trainer, for comparison."""
    import tensorflow as tf

    from tfgan_cifar.lib import losses
    g, d, g_opt, d_opt = gan.generator, gan.discriminator, gan.g_optimizer, gan.d_optimizer

    @tf.function
    def step(real):
        n = tf.shape(real)[0]
        with tf.GradientTape() as tape:
            real_logits = d(real, training=True)
            fake_logits = d(g(tf.random.normal([n, gan.nz]), training=True), training=True)
            d_loss = losses.minimax_discriminator_loss(real_logits, fake_logits)
        d_opt.apply_gradients(zip(tape.gradient(d_loss, d.trainable_variables), d.trainable_variables))
        with tf.GradientTape() as tape:
            g_loss = losses.non_saturating_generator_loss(d(g(tf.random.normal([n, gan.nz]), training=True),
                                                            training=True))
        g_opt.apply_gradients(zip(tape.gradient(g_loss, g.trainable_variables), g.trainable_variables))
        return d_loss, g_loss

    return step


def fit_img_per_s(gan, dataset, steps, batch_size):
    start = time.perf_counter()
    gan.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return steps * batch_size / (time.perf_counter() - start)


def loop_img_per_s(step, batches, steps, batch_size):
    """img/s of `step` over `steps` batches; its last outputs are read back, so all the work is timed."""
    import tensorflow as tf
    start = time.perf_counter()
    for _ in range(steps):
        out = step(next(batches))
    tf.nest.map_structure(lambda t: t.numpy(), out)
    return steps * batch_size / (time.perf_counter() - start)


def measure(batch_size=64, steps=60, repeats=3):
    import tensorflow as tf

    from tfgan_cifar.lib import data, precision

    from tfgan_cifar import gans
    config = gans.make_config("dcgan", batch_size=batch_size, precision="float32")
    images = data.make_shapes(max(batch_size * 50, 2000), seed=0)
    dataset = data.make_pipeline(images, batch_size, repeat=True)

    fit_gan = gans.build(config)
    fit_gan.compile()
    loop_gan = gans.build(config)
    loop_gan.compile()
    step = _hand_loop_step(loop_gan)
    batches = iter(dataset)

    time_fit = lambda: fit_img_per_s(fit_gan, dataset, steps, batch_size)
    time_loop = lambda: loop_img_per_s(lambda batch: step(batch[0]), batches, steps, batch_size)

    def time_pipeline(n=400):
        it = iter(dataset)
        next(it)
        start = time.perf_counter()
        for _ in range(n):
            next(it)
        return n * batch_size / (time.perf_counter() - start)

    fit_gan.fit(dataset, epochs=1, steps_per_epoch=3, verbose=0, shuffle=False)  # trace and warm up both
    float(step(next(batches)[0])[0])
    fit_rates, loop_rates = [], []
    for _ in range(repeats):
        fit_rates.append(time_fit())
        loop_rates.append(time_loop())
    pipeline = max(time_pipeline() for _ in range(2))
    fit, loop = max(fit_rates), max(loop_rates)
    return dict(model="dcgan", batch_size=batch_size, steps=steps, repeats=repeats,
                fit_img_per_s=round(fit, 1), hand_loop_img_per_s=round(loop, 1), fit_over_loop=round(fit / loop, 3),
                pipeline_img_per_s=round(pipeline, 1), pipeline_over_train=round(pipeline / fit, 1),
                machine=f"{precision.cpu_features()[0]} ({platform.machine()}, {os.cpu_count()} cores)",
                tensorflow=tf.__version__)


def keras_spectral_norm(layer, power_iterations=1, eps=None):
    """The spectral norm the project used before its own SpectralNorm: Keras 3's layer, which rescales the
    kernel in place (float32 throughout, as it was used)."""
    import keras
    layer.dtype_policy = "float32"
    return keras.layers.SpectralNormalization(layer, power_iterations=power_iterations, dtype="float32")


def measure_variant(model, batch_size, min_steps, repeats, seconds=4.0, precision="float32", loop=True,
                    overrides=None, sn_wrapper="own"):
    """img/s of `fit`, of the variant's train_step in a bare tf.function loop (unless not `loop`), and of `fit`
    under XLA, in `precision`. Each measurement runs at least `min_steps` steps and about `seconds` of
    training, so fast variants are not timed over a fraction of a second. sn_wrapper='keras' builds the
    networks with Keras's SpectralNormalization instead of the project's SpectralNorm."""
    from unittest import mock

    import tensorflow as tf

    from tfgan_cifar.lib import data, layers

    from tfgan_cifar import gans
    config = gans.make_config(model, batch_size=batch_size, precision=precision, **(overrides or {}))
    images = data.make_shapes(max(batch_size * 20, 2000), seed=0)
    images = gans.VARIANTS[model].prepare_data(images, "train", config)
    dataset = data.make_pipeline(images, batch_size, repeat=True, **gans.VARIANTS[model].pipeline_options(config))
    batches = iter(dataset)
    wrapper = keras_spectral_norm if sn_wrapper == "keras" else layers.SpectralNorm
    with mock.patch.object(layers, "SpectralNorm", wrapper):
        fit_gan, jit_gan, loop_gan = (gans.build(config) for _ in range(3))
    fit_gan.compile()
    jit_gan.compile(jit_compile=True)
    loop_gan.compile()
    loop_step = tf.function(loop_gan.train_step)
    for gan in (fit_gan, jit_gan):  # trace and warm up
        gan.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)
    if loop:
        loop_img_per_s(loop_step, batches, 1, batch_size)
    steps = max(min_steps, int(seconds * fit_img_per_s(fit_gan, dataset, 3, batch_size) / batch_size))
    rates = {"fit": [], "loop": [], "fit_jit": []}
    for _ in range(repeats):
        rates["fit"].append(fit_img_per_s(fit_gan, dataset, steps, batch_size))
        if loop:
            rates["loop"].append(loop_img_per_s(loop_step, batches, steps, batch_size))
        rates["fit_jit"].append(fit_img_per_s(jit_gan, dataset, steps, batch_size))
    best = {k: max(v) if v else None for k, v in rates.items()}
    row = dict(model=model, batch_size=batch_size, precision=precision, steps=steps,
               fit_img_per_s=round(best["fit"], 1), fit_jit_img_per_s=round(best["fit_jit"], 1),
               jit_speedup=round(best["fit_jit"] / best["fit"], 3), peak_rss_mb=peak_rss_mb())
    if loop:
        row.update(loop_img_per_s=round(best["loop"], 1), fit_over_loop=round(best["fit"] / best["loop"], 3))
    return row


def peak_rss_mb():
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it is not inherited from the parent)."""
    with open("/proc/self/status") as f:
        return round(next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024)


def child_row(model, batch_size, steps, repeats, *extra):
    """measure_variant in a fresh process (its peak RSS is its own); `extra` are more bench flags."""
    import subprocess
    import sys
    res = subprocess.run([sys.executable, "-m", "tfgan_cifar.tools.bench", f"--child={model}", f"--batch_size={batch_size}",
                          f"--steps={steps}", f"--repeats={repeats}", *extra], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"bench of {model} at batch {batch_size} {' '.join(extra)} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def variant_table(variants, batch_sizes, steps, repeats):
    """measure_variant for each (variant, batch size) in a fresh process; returns the rows."""
    rows = []
    for model in variants:
        for batch_size in batch_sizes:
            r = child_row(model, batch_size, steps, repeats)
            rows.append(r)
            print(f"| {model} | {batch_size} | {r['fit_img_per_s']} | {r['loop_img_per_s']} | {r['fit_over_loop']} | "
                  f"{r['fit_jit_img_per_s']} | {r['jit_speedup']} | {r['peak_rss_mb']} |", flush=True)
    return rows


def precision_table(variants, float32_rows, precisions, steps, repeats):
    """Each variant's img/s in every precision, XLA off and on, relative to float32 without XLA (whose row
    comes from the variant table)."""
    print("\n| variant | batch | precision | fit img/s | x float32 | fit+XLA img/s | x float32 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for model in variants:
        base = float32_rows[model]
        for precision in precisions:
            r = base if precision == "float32" else child_row(model, base["batch_size"], steps, repeats,
                                                               f"--child_precision={precision}", "--noloop")
            r = dict(r, speedup=round(r["fit_img_per_s"] / base["fit_img_per_s"], 3),
                     jit_vs_float32=round(r["fit_jit_img_per_s"] / base["fit_img_per_s"], 3))
            rows.append(r)
            print(f"| {model} | {r['batch_size']} | {precision} | {r['fit_img_per_s']} | {r['speedup']} | "
                  f"{r['fit_jit_img_per_s']} | {r['jit_vs_float32']} |", flush=True)
    return rows


SN_CASES = (("dcgan", "norm=spectral"), ("sagan", "conditioning=concat"))  # Keras's layer cannot wrap an Embedding


def spectral_norm_table(batch_size, steps, repeats):
    """ms per train step with the project's SpectralNorm and with Keras's SpectralNormalization."""
    print("\n| variant | batch | SpectralNorm ms/step | Keras SpectralNormalization ms/step | ratio |")
    print("| --- | --- | --- | --- | --- |")
    rows = []
    for model, override in SN_CASES:
        ms = {wrapper: 1000 * batch_size / child_row(model, batch_size, steps, repeats, f"--child_overrides={override}",
                                                     f"--child_sn={wrapper}", "--noloop")["fit_img_per_s"]
              for wrapper in ("own", "keras")}
        rows.append(dict(model=model, overrides=override, batch_size=batch_size, own_ms=round(ms["own"], 1),
                         keras_ms=round(ms["keras"], 1), ratio=round(ms["own"] / ms["keras"], 3)))
        print(f"| {model} --{override} | {batch_size} | {rows[-1]['own_ms']} | {rows[-1]['keras_ms']} | "
              f"{rows[-1]['ratio']} |", flush=True)
    return rows


def default_precisions():
    """float32 and bfloat16 everywhere; float16 only where a GPU runs it (CPUs have no fast float16 path)."""
    import tensorflow as tf
    return ["float32", "mixed_bfloat16"] + (["mixed_float16"] if tf.config.list_physical_devices("GPU") else [])


def measure_evaluation(n=10000):
    """Evaluator feature extraction img/s, and the wall time of a whole n-sample FID: generate n images with
    a DCGAN generator, extract features, compare with the cached reference (computed here first)."""
    import resource

    from tfgan_cifar.lib import data, evaluator, features, metrics

    from tfgan_cifar import gans
    ev = evaluator.load_or_train("shapes", image_size=32, verbose=0)
    extractor = features.make("evaluator", "shapes", 32)
    real = data.load("shapes", "train", examples=20000).images
    start = time.perf_counter()
    extractor(real[:5000])
    extract_rate = 5000 / (time.perf_counter() - start)
    reference, _ = features.reference(extractor, real[:10000], "bench_shapes_train")
    gan = gans.build(gans.make_config("dcgan", precision="float32"))
    start = time.perf_counter()
    fake, _ = gan.sample_images(n)
    feats, logits = extractor(fake)
    fid = metrics.fid_from_activations(reference["features"], feats)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(evaluator_img_per_s=round(extract_rate, 1), fid_samples=n, fid_seconds=round(seconds, 1),
                fid_untrained_dcgan=round(fid, 2), peak_rss_mb=round(peak_mb), evaluator=ev.path)


def main(argv):
    from tfgan_cifar import gans
    from tfgan_cifar.lib.errors import UsageError
    FLAGS = flags.FLAGS
    if FLAGS.steps < 5 or FLAGS.repeats < 1 or FLAGS.batch_size < 1:
        raise UsageError("--steps must be >= 5, --repeats >= 1 and --batch_size >= 1")
    if FLAGS.child:
        overrides = {}
        for item in filter(None, FLAGS.child_overrides.split(",")):
            key, value = item.split("=")
            overrides[key] = value
        print(json.dumps(measure_variant(FLAGS.child, FLAGS.batch_size, FLAGS.steps, FLAGS.repeats,
                                         precision=FLAGS.child_precision, loop=FLAGS.loop, overrides=overrides,
                                         sn_wrapper=FLAGS.child_sn)))
        return
    variants = sorted(gans.VARIANTS) if FLAGS.variants == "all" else [v for v in FLAGS.variants.split(",") if v]
    unknown = [v for v in variants if v not in gans.VARIANTS]
    try:
        batch_sizes = [int(b) for b in FLAGS.batch_sizes.split(",") if b]
    except ValueError:
        batch_sizes = []
    if unknown or not batch_sizes or min(batch_sizes) < 1:
        raise UsageError(f"--variants must name variants ({', '.join(sorted(gans.VARIANTS))}) and --batch_sizes "
                         f"positive integers, got {FLAGS.variants!r} and {FLAGS.batch_sizes!r}")
    result = measure(FLAGS.batch_size, FLAGS.steps, FLAGS.repeats)
    result.update(measure_evaluation())
    print(f"DCGAN batch {result['batch_size']} on {result['machine']} (TF {result['tensorflow']}):")
    print(f"  train, keras fit          {result['fit_img_per_s']:>9.1f} img/s")
    print(f"  train, hand-written loop  {result['hand_loop_img_per_s']:>9.1f} img/s")
    print(f"  fit / hand loop           {result['fit_over_loop']:>9.3f}   (target >= 0.95)")
    print(f"  tf.data pipeline alone    {result['pipeline_img_per_s']:>9.1f} img/s "
          f"({result['pipeline_over_train']}x train; target >= 10x)")
    print(f"  evaluator feature extraction {result['evaluator_img_per_s']:>9.1f} img/s")
    print(f"  {result['fid_samples']}-sample FID (generate + features + distance) {result['fid_seconds']} s, "
          f"peak RSS of this process {result['peak_rss_mb']} MB")
    print("\n| variant | batch | fit img/s | loop img/s | fit/loop | fit+XLA img/s | XLA speed-up | peak RSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    result["variants"] = variant_table(variants, batch_sizes, FLAGS.variant_steps, FLAGS.repeats)
    precisions = [p for p in FLAGS.precisions.split(",") if p] or default_precisions()
    float32_rows = {r["model"]: r for r in result["variants"] if r["batch_size"] == batch_sizes[0]}
    result["precision"] = precision_table(variants, float32_rows, precisions, FLAGS.variant_steps, FLAGS.repeats)
    result["spectral_norm"] = spectral_norm_table(batch_sizes[0], FLAGS.variant_steps, FLAGS.repeats)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {FLAGS.out}")


def define_flags():
    flags.DEFINE_integer("steps", 60, "Timed train steps per repeat.")
    flags.DEFINE_integer("repeats", 3, "Alternating repeats of each measurement; the best is reported.")
    define_config_flags(["batch_size"])
    flags.DEFINE_string("out", "bench/results.json", "Where to write the results.")
    flags.DEFINE_string("variants", "all", "Variants of the per-variant table: 'all' or a comma-separated list.")
    flags.DEFINE_string("batch_sizes", "64,128", "Batch sizes of the per-variant table.")
    flags.DEFINE_integer("variant_steps", 10, "Minimum timed steps per repeat in the per-variant table (each "
                         "repeat also runs for about 4 s).")
    flags.DEFINE_string("precisions", "", "Precisions of the precision table, comma-separated; default float32 and "
                        "mixed_bfloat16, plus mixed_float16 where a GPU is visible.")
    flags.DEFINE_string("child", "", "Internal: measure this one variant and print its JSON row.")
    flags.DEFINE_string("child_precision", "float32", "Internal: the child's --precision.")
    flags.DEFINE_string("child_overrides", "", "Internal: the child's settings, e.g. norm=spectral.")
    flags.DEFINE_enum("child_sn", "own", ["own", "keras"], "Internal: the child's spectral-norm layer.")
    flags.DEFINE_bool("loop", True, "Internal: also time the child's bare train_step loop.")


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    define_flags()
    run(main)

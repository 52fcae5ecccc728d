"""Sample quality per CPU budget on `shapes` (a benchmark, not a test).

Trains a variant for --budget seconds, then scores --samples generated images with the shapes evaluator
(trained once, cached under models/evaluator/): Fréchet distance in its 128-d features against the same
number of held-out real images, its classifier score, and for conditional models the fraction of
samples classified as the requested label. The real test images themselves give the floor.

    python -m tfgan_cifar.tools.bench_quality --models=dcgan --budget=120      # or --models=all
"""
import json
import os
import time

from absl import flags

from tfgan_cifar.lib.config import define_flags as define_config_flags

def score(evaluator, real, fake, fake_labels):
    from tfgan_cifar.lib import metrics
    real_f, real_l = evaluator(real)
    fake_f, fake_l = evaluator(fake)
    result = dict(fd=round(metrics.fid_from_activations(real_f, fake_f), 3),
                  classifier_score=round(metrics.classifier_score(fake_l), 3))
    if fake_labels is not None:
        result["class_accuracy"] = round(metrics.class_accuracy(fake_l, fake_labels)[0], 4)
    return result


def run_one(model, budget, samples, seed, work_dir, evaluator, real):
    from tfgan_cifar import gans, train
    from tfgan_cifar.lib import callbacks
    config = gans.make_config(model, epochs=1000, time_budget=budget, seed=seed, log_every=50,
                              run_dir=os.path.join(work_dir, model, time.strftime("%Y%m%d-%H%M%S")),
                              export_dir=os.path.join(work_dir, "models"))
    start = time.perf_counter()
    gan, run_dir, _ = train.train(config, verbose=0)
    seconds = time.perf_counter() - start
    steps = callbacks.epoch_records(run_dir)[-1]["step"]
    fake, labels = gan.sample_images(samples, seed)
    return dict(model=model, budget_s=budget, train_steps=steps, wall_s=round(seconds, 1), samples=samples,
                run_dir=run_dir, **score(evaluator, real, fake, labels))


def main(argv):
    from tfgan_cifar.lib import data, evaluator as evaluator_lib
    from tfgan_cifar import gans
    from tfgan_cifar.lib.errors import UsageError
    F = flags.FLAGS
    models = sorted(gans.VARIANTS) if F.models == "all" else [F.models]
    if any(m not in gans.VARIANTS for m in models):
        raise UsageError(f"unknown model {F.models!r}; choose one of: all, {', '.join(sorted(gans.VARIANTS))}")
    if F.budget <= 0 or F.samples < 100:
        raise UsageError("--budget must be > 0 and --samples >= 100")
    evaluator = evaluator_lib.load_or_train("shapes", image_size=32)
    real = data.load("shapes", "test", examples=F.samples * 5, seed=F.seed + 1).images[:F.samples]
    results = json.load(open(F.out)) if os.path.exists(F.out) else {}
    # The floor: held-out real images scored like samples (same count, a disjoint real set).
    other_real = data.load("shapes", "test", examples=F.samples * 5, seed=F.seed + 2)
    results["real_floor"] = dict(model="real test images", samples=F.samples, **score(
        evaluator, real, other_real.images[:F.samples], other_real.labels[:F.samples]))
    for model in models:
        results[model] = run_one(model, F.budget, F.samples, F.seed, F.work_dir, evaluator, real)
        os.makedirs(os.path.dirname(os.path.abspath(F.out)), exist_ok=True)
        with open(F.out, "w") as f:
            json.dump(results, f, indent=2)
        r = results[model]
        print(f"{model:8s} steps {r['train_steps']:5d}  FD {r['fd']:9.3f}  score {r['classifier_score']:6.3f}  "
              f"class acc {r.get('class_accuracy', float('nan')):.3f}")
    floor = results["real_floor"]
    print(f"{'real':8s}              FD {floor['fd']:9.3f}  score {floor['classifier_score']:6.3f}  "
          f"class acc {floor['class_accuracy']:.3f}   (evaluator: shapes, {F.samples} images each)")
    print(f"wrote {F.out}")


def define_flags():
    flags.DEFINE_string("models", "dcgan", "Variant to benchmark, or 'all'.")
    flags.DEFINE_float("budget", 120.0, "Training wall-clock seconds per variant.")
    flags.DEFINE_integer("samples", 2000, "Generated (and real) images scored.")
    define_config_flags(["seed"])
    flags.DEFINE_string("out", "bench/quality_shapes.json", "Results file (one entry per variant, merged).")
    flags.DEFINE_string("work_dir", "bench/quality_runs", "Where the benchmark's runs and exports go.")


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    define_flags()
    run(main)

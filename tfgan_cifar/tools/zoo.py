"""make zoo: every variant trained under the same wall-clock budget, each export evaluated, the results written
as run records (docs/results/zoo.json) with a 10x10 grid per model, and the README table made from them.

    python -m tfgan_cifar.tools.zoo --data_dir=data [--dataset=cifar10 --budget=1800 --models=all --n=10000]

Resumable and cached: each model's finished result is kept in <work_dir>/<model>/result.json with the
settings it was made with; a later call skips models whose settings did not change and runs the others
(an interrupted model starts again). A progress line per model, with an ETA from the budget.
"""
import json
import os
import time

from absl import flags

from tfgan_cifar.lib.errors import UsageError

# The preset each variant trains with in the zoo: its CPU preset where it has one, else its published one.
CPU_PRESET = "cpu_fast"


def zoo_preset(cls):
    return CPU_PRESET if CPU_PRESET in cls.__dict__.get("NAMED_PRESETS", {}) else ""


def zoo_config(model, dataset, data_dir, budget, work_dir, examples=20000, seed=0):
    """The run config of one zoo entry: the variant's zoo preset, trained for `budget` seconds."""
    from tfgan_cifar import gans
    return gans.make_config(model, zoo_preset(gans.VARIANTS[model]), dataset=dataset, data_dir=data_dir,
                            examples=examples, seed=seed, epochs=100000, time_budget=budget, fid_every=0,
                            run_dir=os.path.join(work_dir, model, "run"), export_dir=os.path.join(work_dir, "models"),
                            overwrite=True)


def settings_key(config, n):
    """What makes a cached result valid: the resolved config without its paths, and the sample count."""
    from tfgan_cifar.tools.results import NOT_ARGS
    values = json.loads(config.to_json())
    return dict({k: v for k, v in values.items() if k not in NOT_ARGS | {"precision"}}, n=n)


def run_model(config, n, work_dir, out, evaluator_root, progress):
    """Train, export, evaluate one model (or reuse its cached result); add its record and grid to `out`."""
    from tfgan_cifar import evaluate, train
    from tfgan_cifar.tools import results
    cache = os.path.join(work_dir, config.model, "result.json")
    key = settings_key(config, n)
    if os.path.exists(cache):
        with open(cache) as f:
            cached = json.load(f)
        if cached.get("settings") == key:
            grid = os.path.join(os.path.dirname(out) or ".", cached["record"]["grid"])
            if not os.path.exists(grid):  # a results file elsewhere than the first time: its grid goes beside it
                results.write_grid(os.path.join(work_dir, "models", config.model), grid, data_dir=config.data_dir)
            results.add(out, cached["record"])
            return cached["record"], True
    _, run_dir, path = train.train(config, verbose=0)
    evaluation = evaluate.evaluate(path, n=n, dataset=config.dataset, data_dir=config.data_dir,
                                   evaluator_root=evaluator_root, progress=progress)
    grid = results.write_grid(path, os.path.join(os.path.dirname(out) or ".", f"{config.model}.png"),
                              data_dir=config.data_dir)
    record = results.make_record(config.model, run_dir, evaluation, grid)
    results.add(out, record)
    with open(cache, "w") as f:
        json.dump(dict(settings=key, record=record), f, indent=1)
    return record, False


def run_zoo(models, dataset, data_dir, budget, n, out, work_dir, evaluator_root="models/evaluator", examples=20000,
            progress=True, log=print):
    from tfgan_cifar import gans
    unknown = [m for m in models if m not in gans.VARIANTS]
    if unknown:
        raise UsageError(f"unknown model(s) {', '.join(unknown)}; choose from: all, {', '.join(sorted(gans.VARIANTS))}")
    configs = [zoo_config(m, dataset, data_dir, budget, work_dir, examples) for m in models]  # all checked first
    start, records = time.perf_counter(), []
    for i, config in enumerate(configs):
        left = len(configs) - i
        log(f"[{i + 1}/{len(configs)}] {config.model}: training {budget:g} s, then {n} samples scored "
            f"(ETA for the rest: {left * budget / 60:.0f} min of training + scoring)", flush=True)
        record, cached = run_model(config, n, work_dir, out, evaluator_root, progress)
        records.append(record)
        log(f"[{i + 1}/{len(configs)}] {config.model}: {'cached, ' if cached else ''}{record['steps']} steps, "
            f"FID {record['fid']:.3f}, recall {record['recall']:.3f} ({time.perf_counter() - start:.0f} s so far)",
            flush=True)
    return records


def main(argv):
    from tfgan_cifar import gans
    from tfgan_cifar.tools import results
    F = flags.FLAGS
    if F.budget <= 0 or F.n < 100:
        raise UsageError("--budget must be > 0 and --n >= 100")
    models = sorted(gans.VARIANTS) if F.models == "all" else [m.strip() for m in F.models.split(",") if m.strip()]
    os.makedirs(F.work_dir, exist_ok=True)
    run_zoo(models, F.dataset, F.data_dir, F.budget, F.n, F.out, F.work_dir)
    print(results.markdown_table(F.out))


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    flags.DEFINE_string("dataset", "cifar10", "Dataset every variant trains on.")
    flags.DEFINE_string("data_dir", "data", "Dataset directory (for cifar10: cifar-10-batches-py).")
    flags.DEFINE_float("budget", 1800.0, "Training wall-clock seconds per model.")
    flags.DEFINE_string("models", "all", "Comma-separated variants, or all.")
    flags.DEFINE_integer("n", 10000, "Samples scored per model.")
    flags.DEFINE_string("out", "docs/results/zoo.json", "Results file; each model's grid goes beside it.")
    flags.DEFINE_string("work_dir", "bench/zoo", "Runs, exports and cached results of each model.")
    run(main)

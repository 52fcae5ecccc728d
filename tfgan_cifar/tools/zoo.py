"""make zoo: every variant trained under the same wall-clock budget, each export evaluated, the results written
as run records (docs/results/zoo.json) with a 10x10 grid per model, and the README table made from them.

    python -m tfgan_cifar.tools.zoo --data_dir=data [--dataset=cifar10 --budget=1800 --models=all --n=10000]

make levers: one variant, once per set of train flags (each lever alone over its defaults), for a number of
epochs or a budget, recorded the same way (one record and grid per lever; the grids, 10 rows of 5 samples so
that a table of a dozen levers stays a few hundred KB, go in a folder named after the results file):

    python -m tfgan_cifar.tools.zoo --models=acgan --levers='baseline; conditioning=multiply; preset=seed' \
        --epochs=10 --out=docs/results/acgan_levers.json

Resumable and cached: each model's finished result is kept in <work_dir>/<model>/result.json with the
settings it was made with, and in the results file with their digest; a later call skips models whose settings
(and evaluator) did not change and runs the others, so a table can be made over several sessions or machines.
An interrupted epoch-based entry (--epochs) continues from its last checkpoint; an interrupted budget-based
one starts again (a resumed run's clock would start again, so it would train longer than the others).
A progress line per model, with an ETA, and its training's epochs as `make train` shows them.
"""
import dataclasses
import json
import os
import time

from absl import flags

from tfgan_cifar.lib.config import define_flags as define_config_flags
from tfgan_cifar.lib.errors import UsageError

# The preset each variant trains with in the zoo: its CPU preset where it has one, else its published one.
CPU_PRESET = "cpu_fast"
DEFAULT_BUDGET = 1800.0  # seconds per model: 30 minutes on 2 CPU cores


def zoo_preset(cls):
    return CPU_PRESET if CPU_PRESET in cls.__dict__.get("NAMED_PRESETS", {}) else ""


class Entry:
    """One row of the table: its name, the variant, its preset and its train flags."""

    def __init__(self, name, model, preset="", overrides=None):
        self.name, self.model, self.preset, self.overrides = name, model, preset, dict(overrides or {})


def zoo_entries(models):
    """Each variant with its zoo preset."""
    from tfgan_cifar import gans
    return [Entry(m, m, zoo_preset(gans.VARIANTS[m])) for m in models]


def lever_entries(model, levers):
    """One entry per lever ({flags} over the variant's defaults; a `preset` key picks a named preset), named
    <model>_<flags> (<model> for the baseline)."""
    from tfgan_cifar.tools import sweep
    entries = []
    for overrides in levers:
        overrides = dict(overrides)
        name = f"{model}_{sweep.slug(overrides)}" if overrides else model
        entries.append(Entry(name.replace("=", "-").replace(",", "_"), model, overrides.pop("preset", ""), overrides))
    return entries


def zoo_config(entry, dataset, data_dir, budget, work_dir, examples=20000, seed=0, epochs=0):
    """The run config of one entry: trained for `budget` seconds, or for `epochs` epochs when given."""
    from tfgan_cifar import gans
    length = dict(epochs=epochs, time_budget=budget) if epochs else dict(epochs=100000, time_budget=budget)
    return gans.make_config(entry.model, entry.preset, **dict(
        dict(dataset=dataset, data_dir=data_dir, examples=examples, seed=seed, fid_every=0,
             run_dir=os.path.join(work_dir, entry.name, "run"), export_dir=os.path.join(work_dir, "models", entry.name),
             overwrite=True, **length), **entry.overrides))


def settings_key(config, n):
    """What makes a cached result valid: the resolved config without its paths, and the sample count."""
    from tfgan_cifar.tools.results import NOT_ARGS
    values = json.loads(config.to_json())
    return dict({k: v for k, v in values.items() if k not in NOT_ARGS | {"precision"}}, n=n)


def settings_sha256(config, n):
    """settings_key as a digest, kept in the record: a results file tells which settings its rows were made with."""
    import hashlib
    return hashlib.sha256(json.dumps(settings_key(config, n), sort_keys=True).encode()).hexdigest()[:16]


def cached_record(name, config, n, work_dir, out):
    """The record of an earlier run of this entry with the same settings, or None: from the work folder, or else
    from the results file `out` itself (a table made over several sessions or machines, whose work folders are
    gone: its record is reused while its settings' digest and, in run_model, its evaluator are the same)."""
    cache = os.path.join(work_dir, name, "result.json")
    if os.path.exists(cache):
        with open(cache) as f:
            cached = json.load(f)
        if completed_settings(cached.get("settings") or {}, config.model) == settings_key(config, n):
            return cached["record"]
    if os.path.exists(out):
        from tfgan_cifar.tools import results
        digest = settings_sha256(config, n)
        return next((r for r in results.load(out)["runs"]
                     if r.get("name") == name and r.get("settings_sha256") == digest), None)
    return None


def completed_settings(settings, model):
    """Cached settings of a `model` entry with the hyper-parameters their run predates set as
    config.fill_predated does."""
    from tfgan_cifar import gans
    from tfgan_cifar.lib.config import RunConfig, fill_predated
    known = {f.name for f in dataclasses.fields(RunConfig)}
    if set(settings) - known - {"n"}:
        return settings  # not what settings_key writes: no match
    values = {k: v for k, v in settings.items() if k != "n"}
    config = fill_predated(RunConfig(**dict(values, model=model)), gans.VARIANTS)
    return settings_key(config, settings.get("n"))


def resumable(config, n):
    """An epoch-based entry whose run directory holds a checkpoint of a run with the same settings."""
    from tfgan_cifar import gans, train
    saved = os.path.join(config.run_dir, "config.json")
    if config.time_budget or not os.path.exists(saved) or not train.checkpoint_prefixes(config.run_dir):
        return False
    return settings_key(gans.saved_config(saved), n) == settings_key(config, n)


def run_model(name, config, n, work_dir, out, evaluator_root, progress, record=None, lever=False):
    """Train, export, evaluate one entry, or reuse its cached `record` (cached_record; scored again when the
    metrics or the evaluator changed since: metrics.VERSION, features_key); add its record and grid to `out`. A
    zoo grid is <name>.png beside `out`, 10x10; a `lever` grid is <out's stem>/<name>.png, 10 rows of 5 (a lever
    table's baseline is a different run from the zoo's entry of the same name).
    Returns (record, "cached" | "kept" (another evaluator's) | "rescored" | "trained")."""
    from tfgan_cifar import evaluate, gans, train
    from tfgan_cifar.lib import evaluator, features, metrics
    from tfgan_cifar.tools import results
    path = os.path.join(config.export_dir, config.model)
    results_dir = os.path.dirname(out) or "."
    grid_name = f"{os.path.splitext(os.path.basename(out))[0]}/{name}.png" if lever else f"{name}.png"
    grid, columns = os.path.join(results_dir, grid_name), 5 if lever else 10
    folder = evaluator.evaluator_dir(config.dataset, config.image_size, evaluator_root)
    judged_by = features.evaluator_key(folder) if os.path.exists(os.path.join(folder, "model.keras")) else None
    # Cached figures hold while the metrics and the evaluator whose features they used are the same. Another
    # evaluator's (a results file from another machine, the export not here to score again) are kept as they are:
    # tables number their protocols and compare FID only within one.
    same_evaluator = record is not None and record.get("features_key") == judged_by
    grid_current = record is not None and os.path.exists(grid) and results.file_sha256(grid) == record.get("grid_sha256")
    kept = record is not None and not same_evaluator and not os.path.isdir(path) and grid_current
    if record is not None and record.get("metrics_version") == metrics.VERSION and (same_evaluator or kept):
        saved = os.path.join(config.run_dir, "config.json")
        if os.path.exists(saved):  # its flags beyond today's preset (a variant's defaults may have moved)
            record = dict(record, args=results.args_of(gans.saved_config(saved)))
        if not grid_current:
            # a results file elsewhere than the first time: its grid goes beside it, replacing an older one
            results.write_grid(path, grid, data_dir=config.data_dir, columns=columns)
        if not record.get("features_detail") and same_evaluator and judged_by:  # from before records named it
            with open(os.path.join(folder, "evaluator.json")) as f:  # the same key: this very evaluator
                record = dict(record, features_detail=features.describe_evaluator(json.load(f)))
        return results.add(out, dict(record, grid=grid_name)), "kept" if kept else "cached"
    status = "rescored" if record is not None and os.path.isdir(path) else "trained"
    if status == "trained":
        if resumable(config, n):
            config = dataclasses.replace(config, resume=True, overwrite=False)
        _, _, path = train.train(config, verbose=train.console_verbosity() if progress else 0)
    evaluation = evaluate.evaluate(path, n=n, dataset=config.dataset, data_dir=config.data_dir,
                                   evaluator_root=evaluator_root, progress=progress)
    results.write_grid(path, grid, data_dir=config.data_dir, columns=columns)
    record = results.add(out, dict(results.make_record(name, config.run_dir, evaluation, grid_name),
                                   settings_sha256=settings_sha256(config, n)))
    with open(os.path.join(work_dir, name, "result.json"), "w") as f:
        json.dump(dict(settings=settings_key(config, n), record=record), f, indent=1)
    return record, status


def run_zoo(models, dataset, data_dir, budget, n, out, work_dir, evaluator_root="models/evaluator", examples=20000,
            progress=True, log=print, levers=None, epochs=0):
    """Train, evaluate and record every model (or, with `levers`, the one model once per lever)."""
    from tfgan_cifar import gans
    from tfgan_cifar.tools.results import JUDGES
    unknown = [m for m in models if m not in gans.VARIANTS]
    if unknown:
        raise UsageError(f"unknown model(s) {', '.join(unknown)}; choose from: all, {', '.join(sorted(gans.VARIANTS))}")
    if levers is not None and len(models) != 1:
        raise UsageError(f"--levers varies one model; got --models={','.join(models)}")
    entries = lever_entries(models[0], levers) if levers is not None else zoo_entries(models)
    configs = [zoo_config(e, dataset, data_dir, budget, work_dir, examples, epochs=epochs)
               for e in entries]  # all checked first
    length = f"{epochs} epochs" if epochs else f"{budget:g} s"
    cached = [cached_record(e.name, c, n, work_dir, out) for e, c in zip(entries, configs)]
    records, fresh, fresh_seconds = [], 0, 0.0  # the ETA comes from entries trained in this call
    for i, (entry, config) in enumerate(zip(entries, configs)):
        if cached[i] is None:
            left = sum(c is None for c in cached[i:])  # entries still to train, this one included
            eta = (f"{fresh_seconds / fresh * left / 60:.0f} min" if fresh else
                   f"{left} x {length} of training + scoring" if epochs else
                   f"{left * budget / 60:.0f} min of training + scoring")
            log(f"[{i + 1}/{len(configs)}] {entry.name}: training {length}, then {n} samples scored "
                f"(ETA for the rest: {eta})", flush=True)
        start = time.perf_counter()
        record, status = run_model(entry.name, config, n, work_dir, out, evaluator_root, progress, cached[i],
                                   lever=levers is not None)
        if status == "trained":
            fresh, fresh_seconds = fresh + 1, fresh_seconds + time.perf_counter() - start
        records.append(record)
        done = {"cached": "cached, ",
                "kept": "cached, as another evaluator scored it (its export is not here to score again), ",
                "rescored": "cached, scored again with the current metrics and evaluator, "}.get(status, "")
        judged = "".join(f"{title} {record[key]:.3f}, " for key, title in JUDGES if record.get(key) is not None)
        log(f"[{i + 1}/{len(configs)}] {entry.name}: {done}{record['steps']} steps, {judged}recall "
            f"{record['recall']:.3f}", flush=True)
    return records


def main(argv):
    from tfgan_cifar import gans
    from tfgan_cifar.tools import results
    from tfgan_cifar.tools import sweep
    F = flags.FLAGS
    epochs = F.epochs if F["epochs"].present else 0  # 0: train for the budget
    if F.n < 100 or epochs < 0 or F.budget < 0:
        raise UsageError("--n must be >= 100, --budget and --epochs >= 0")
    budget = F.budget or (0 if epochs else DEFAULT_BUDGET)
    models = sorted(gans.VARIANTS) if F.models == "all" else [m.strip() for m in F.models.split(",") if m.strip()]
    levers = sweep.parse_levers(F.levers) if F.levers else None
    os.makedirs(F.work_dir, exist_ok=True)
    run_zoo(models, F.dataset, F.data_dir, budget, F.n, F.out, F.work_dir, levers=levers, epochs=epochs)
    print(results.markdown_table(F.out))


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    define_config_flags(["dataset", "data_dir", "epochs"])  # make zoo gives --dataset=cifar10
    flags.DEFINE_float("budget", 0, f"Training wall-clock seconds per model; default {DEFAULT_BUDGET:g}, or with "
                       "--epochs none (a value given caps the epochs). --epochs given: each model trains that many "
                       "epochs instead.")
    flags.DEFINE_string("levers", "", "Vary the one model of --models: `;`-separated sets of train flags, each "
                        "alone over its defaults ('baseline' = none; preset=NAME picks a named preset), e.g. "
                        "'baseline; class_fake_weight=0; norm=spectral loss=hinge; preset=seed'.")
    flags.DEFINE_string("models", "all", "Comma-separated variants, or all.")
    flags.DEFINE_integer("n", 10000, "Samples scored per model.")
    flags.DEFINE_string("out", "docs/results/zoo.json", "Results file; each model's grid goes beside it.")
    flags.DEFINE_string("work_dir", "bench/zoo", "Runs, exports and cached results of each model.")
    run(main)

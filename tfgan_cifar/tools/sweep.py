"""make sweep: train every combination of a hyper-parameter grid for the same wall-clock budget, score
each with the project's evaluator, and rank them by FID.

    python -m tfgan_cifar.tools.sweep --model=dcgan --grid='g_lr=1e-4,2e-4 d_lr=2e-4,4e-4 ema=0,0.999' --budget=120

Runs go sequentially to <root>/<combination>/ (run dir, export, result.json). A combination whose
result.json exists is not run again, so an interrupted sweep continues where it stopped. The ranked
table is printed and written to <root>/sweep.md and sweep.json, with the winning command line.
"""
import dataclasses
import itertools
import json
import os
import sys
import typing

from absl import flags

from tfgan_cifar.lib.config import RunConfig
from tfgan_cifar.lib.config import define_flags as define_config_flags
from tfgan_cifar.lib.errors import UsageError

# Run management and identity, not hyper-parameters: a grid may not vary these.
NOT_SWEEPABLE = {"model", "dataset", "data_dir", "run_dir", "export_dir", "resume", "time_budget", "epochs",
                 "fid_every", "fid_samples", "features", "inception_path", "log_every", "keep_checkpoints",
                 "ckpt_every", "strategy", "sketch_dir", "classes", "image_size", "examples"}


def sweepable_types():
    """name -> type (int, float, bool or str) of every RunConfig field a grid may vary."""
    hints = typing.get_type_hints(RunConfig)
    types = {}
    for field in dataclasses.fields(RunConfig):
        kind = hints[field.name]
        kind = next((a for a in typing.get_args(kind) if a is not type(None)), kind)  # Optional[X] -> X
        if field.name not in NOT_SWEEPABLE and kind in (int, float, bool, str):
            types[field.name] = kind
    return types


def convert(name, text, kind):
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        return kind(text)
    except ValueError:
        raise UsageError(f"GRID: {name}={text!r} is not a valid {kind.__name__}")


def parse_grid(text):
    """'g_lr=1e-4,2e-4 ema=0,0.999' -> {'g_lr': [1e-4, 2e-4], 'ema': [0.0, 0.999]} (typed, order kept)."""
    types, grid = sweepable_types(), {}
    for token in (text or "").split():
        name, eq, values = token.partition("=")
        if not eq or not values:
            raise UsageError(f"GRID entries look like name=v1,v2; got {token!r}")
        if name not in types:
            raise UsageError(f"GRID: unknown or fixed key {name!r}; sweepable: {', '.join(sorted(types))}")
        if name in grid:
            raise UsageError(f"GRID names {name!r} twice")
        grid[name] = [convert(name, v, types[name]) for v in values.split(",") if v != ""]
    if not grid:
        raise UsageError("GRID is empty; give e.g. GRID='g_lr=1e-4,2e-4 ema=0,0.999'")
    return grid


def parse_levers(text):
    """'baseline; precision=mixed_bfloat16; ema=0.999 g_lr=1e-4' -> [{}, {'precision': ...}, {'ema': .., 'g_lr': ..}]:
    each `;`-separated entry is one set of train flags over a variant's defaults (typed like a grid; a value is
    taken whole, so diffaugment=color,translation works); `baseline` is the variant unchanged; preset=NAME picks
    a named preset. Used by make bench-quality-cifar and make levers."""
    types, levers = sweepable_types(), []
    for entry in filter(str.strip, (text or "").split(";")):
        overrides = {}
        for token in entry.split():
            if token == "baseline":
                continue
            name, eq, value = token.partition("=")
            if not eq or not value:
                raise UsageError(f"--levers entries look like name=value [name=value ...]; got {token!r}")
            if name not in types:
                raise UsageError(f"--levers: unknown or fixed key {name!r}; allowed: {', '.join(sorted(types))}")
            overrides[name] = convert(name, value, types[name])
        levers.append(overrides)
    return levers


def expand(grid):
    """Every combination, as a list of {name: value} in the grid's order."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def slug(combination):
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in combination.items())


def command_line(model, dataset, budget, combination):
    flags_ = " ".join(f"--{k}={v}" for k, v in combination.items())
    return f"python -m tfgan_cifar.train --model={model} --dataset={dataset} --time_budget={budget:g} {flags_}"


def configure(model, dataset, data_dir, budget, combination, run_dir, examples=20000):
    """A validated RunConfig: the variant's preset (or its named `preset` if the combination names one), the
    combination on top (refused if it does not apply)."""
    from tfgan_cifar import gans
    combination = dict(combination)
    return gans.make_config(model, combination.pop("preset", ""), dataset=dataset, data_dir=data_dir, examples=examples,
                            epochs=100000, time_budget=budget, fid_every=0, run_dir=os.path.join(run_dir, "run"),
                            export_dir=os.path.join(run_dir, "models"), **combination)


def run_sweep(model, grid, budget, dataset="shapes", data_dir="data", root="runs/sweep", samples=2000,
              examples=20000, out=sys.stdout):
    """Train, score and rank every combination; returns the ranked rows (best first)."""
    from tfgan_cifar.lib import callbacks, data, features, metrics
    from tfgan_cifar import train
    combinations = expand(grid)
    configs = [configure(model, dataset, data_dir, budget, c, os.path.join(root, slug(c)), examples)
               for c in combinations]
    extractor = features.make("evaluator", dataset, configs[0].image_size, cache_dir=data_dir)  # fails before work
    reference = None
    rows = []
    for combination, config in zip(combinations, configs):
        result_path = os.path.join(root, slug(combination), "result.json")
        if os.path.exists(result_path):
            with open(result_path) as f:
                rows.append(json.load(f))
            print(f"{slug(combination)}: done before, FID {rows[-1]['fid']:.3f}", file=out)
            continue
        print(f"{slug(combination)}: training for {budget:g} s", file=out, flush=True)
        gan, run_dir, _ = train.train(config, verbose=0)
        if reference is None:
            train_set = data.load(dataset, "train", data_dir, config.image_size, examples=config.examples)
            reference, _ = features.real_reference(extractor, dataset, train_set, config.image_size, None,
                                                   os.path.join(data_dir, "reference_stats"), limit=10000)
        fake, labels = gan.sample_images(samples, seed=0, classes=config.classes)
        feats, logits = extractor(fake)
        score = metrics.score(reference, feats, logits, labels, extractor.has_class_head, precision_recall_k=0)
        steps = callbacks.epoch_records(run_dir)[-1]["step"]
        row = dict(combination=combination, name=slug(combination), steps=steps, samples=samples,
                   fid=score["fid"], inception_score=score["inception_score"],
                   class_accuracy=score.get("class_accuracy"), run_dir=run_dir,
                   command=command_line(model, dataset, budget, combination))
        with open(result_path, "w") as f:
            json.dump(row, f, indent=2)
        rows.append(row)
    rows.sort(key=lambda r: r["fid"])
    table = markdown(rows, model, dataset, budget, samples)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "sweep.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(root, "sweep.json"), "w") as f:
        json.dump(rows, f, indent=2)
    print(table, file=out)
    print(f"best: {rows[0]['command']}", file=out)
    return rows


def markdown(rows, model, dataset, budget, samples):
    lines = [f"{model} on {dataset}, {budget:g} s each; FID on {samples} samples, evaluator features, vs the "
             f"train split", "", "| rank | combination | steps | FID | IS | class acc |", "| --- | --- | --- | --- | --- | --- |"]
    for i, r in enumerate(rows, 1):
        acc = "" if r.get("class_accuracy") is None else f"{r['class_accuracy']:.3f}"
        lines.append(f"| {i} | `{r['name']}` | {r['steps']} | {r['fid']:.3f} | {r['inception_score']:.3f} | {acc} |")
    return "\n".join(lines)


def main(argv):
    F = flags.FLAGS
    if F.budget <= 0 or F.samples < 100:
        raise UsageError("--budget must be > 0 and --samples >= 100")
    grid = parse_grid(F.grid)
    run_sweep(F.model, grid, F.budget, F.dataset, F.data_dir, F.root or os.path.join("runs", "sweep", F.model),
              F.samples, F.examples)


def define_flags():
    flags.DEFINE_string("grid", "", "Space-separated name=v1,v2 entries over train's flags, e.g. "
                        "'g_lr=1e-4,2e-4 d_lr=2e-4,4e-4 ema=0,0.999'.")
    flags.DEFINE_float("budget", 120.0, "Training wall-clock seconds per combination.")
    define_config_flags(["model", "dataset", "data_dir", "examples"])
    flags.DEFINE_integer("samples", 2000, "Generated images scored per combination.")
    flags.DEFINE_string("root", "", "Where the runs and the table go; default runs/sweep/<model>.")


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    define_flags()
    run(main)

"""Committed results: `docs/results/<name>.json` files of run records, each with a 10x10 sample grid beside it,
and the README tables made from them.

    python -m tfgan_cifar.tools.results --out=docs/results/spectral_norm.json --name=sagan_after \
        --run_dir=runs/sagan/X --model_dir=models/sagan --eval=models/sagan/eval_evaluator_n10000.json
    python -m tfgan_cifar.tools.results --table=docs/results/spectral_norm.json      # the markdown table
    python -m tfgan_cifar.tools.results --table=docs/results/acgan_levers_three_judges.json --baseline=acgan_preset-seed
    make docs                                 # rewrite every results table in README.md and docs/*.md (tools/docs.py)

A file is {"runs": [record, ...]}; a record has model, args (flags beyond the variant's defaults), dataset,
epochs, exported_epoch (the epoch the export is from: the monitor's best), steps, seconds, n, reference, features,
fid, inception_score, kid, precision, recall, class_accuracy
(null for unconditional models), grid (a PNG next to the JSON) and grid_sha256 (its hash, taken by the command
that wrote both, so a grid replaced by another run's is caught: tests/test_results.py), date and versions, plus
its name and the real-data floor of every metric.
"""
import dataclasses
import hashlib
import json
import os
import time

from absl import flags

from tfgan_cifar.lib.errors import UsageError

METRICS = ("fid", "inception_score", "kid", "precision", "recall", "class_accuracy", "intra_class_diversity", "swd",
           "c2st")
# A variant's own metrics (evaluation_extras, paired distances), recorded only where its evaluation has them.
VARIANT_METRICS = ("l1", "ssim", "sketch_f1", "sketch_f1_chance")
# Settings that say where a run was, not what it was.
NOT_ARGS = {"run_dir", "export_dir", "data_dir", "resume", "overwrite", "precision_reason", "log_every",
            "keep_checkpoints", "ckpt_every", "fid_every", "fid_samples", "stop_on_collapse", "features",
            "inception_path", "model"}


def args_of(config):
    """The flags that reproduce a run: its --preset and where it differs from that preset, or from the
    variant's defaults, e.g. '--norm=spectral --time_budget=600'. (Against the preset, so a run's flags stay
    right when the defaults move to its values.)"""
    from tfgan_cifar import gans
    from tfgan_cifar.lib.config import RunConfig, UsageError
    preset = config.preset or ""
    try:
        default = gans.make_config(config.model, preset)
    except UsageError:  # a preset since removed
        default, preset = gans.make_config(config.model), ""
    unset = lambda value: None if value == "" else value  # runs saved before --sketch_dir was a hyper-parameter: ""
    differ = [f.name for f in dataclasses.fields(RunConfig)
              if f.name not in NOT_ARGS and (unset(getattr(config, f.name)) != unset(getattr(default, f.name))
                                             or f.name == "preset" and config.preset)]
    flags = {name: getattr(config, name) for name in differ}
    for name in [n for n in differ if n != "preset"]:  # implied by the others: --lr_decay=none drops a decay start
        rest = {k: v for k, v in flags.items() if k not in (name, "preset")}
        try:
            if getattr(gans.make_config(config.model, preset, **rest), name) == flags[name]:
                del flags[name]
        except UsageError:
            pass
    return " ".join(f"--{name}={_flag_value(value)}" for name, value in flags.items())


def _flag_value(value):
    if isinstance(value, list):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def versions():
    import keras
    import tensorflow as tf

    from tfgan_cifar import __version__

    from tfgan_cifar.lib import precision
    return dict(tfgan_cifar=__version__, tensorflow=tf.__version__, keras=keras.__version__,
                cpu=precision.cpu_features()[0])


def make_record(name, run_dir, evaluation, grid, upto=0):
    """One record from a training run, its export and a `make eval` result (evaluate.py's JSON); `grid` is its
    PNG's path relative to the results file. `upto`: the record covers the run's first `upto` epochs (the export
    was taken then, and the run was resumed for longer since)."""
    from tfgan_cifar import gans
    from tfgan_cifar.lib import metrics
    from tfgan_cifar.lib.callbacks import METRICS_FILE, epoch_records
    config = gans.saved_config(os.path.join(run_dir, "config.json"))
    epochs = [r for r in epoch_records(run_dir) if not upto or r["epoch"] <= upto]
    if not epochs:
        raise UsageError(f"{run_dir} has no finished epoch in {METRICS_FILE}" + (f" up to {upto}" if upto else ""))
    if upto:
        config = dataclasses.replace(config, epochs=upto)
    generated, floor = evaluation["generated"], evaluation["real_test_floor"]
    return dict(name=name, model=config.model, args=args_of(config), dataset=config.dataset,
                epochs=epochs[-1]["epoch"], exported_epoch=evaluation.get("epoch"), steps=epochs[-1]["step"],
                seconds=round(sum(r["epoch_seconds"] for r in epochs), 1), n=evaluation["samples"],
                reference=evaluation["reference"], features=evaluation["features"],
                features_detail=evaluation.get("features_detail"), features_key=evaluation.get("features_key"),
                **{k: generated.get(k) for k in METRICS}, **_variant_metrics(generated),
                real_floor=dict({k: floor.get(k) for k in METRICS}, **_variant_metrics(floor)),
                grid=grid, date=time.strftime("%Y-%m-%d"), versions=versions(),
                metrics_version=metrics.VERSION)


def _variant_metrics(scores):
    return {k: scores[k] for k in VARIANT_METRICS if k in scores}


def write_grid(model_dir, path, seed=0, data_dir="data", columns=10):
    """export_samples() as a 1x, 256-colour PNG (a committed 10x10 grid stays well under 150 KB, 10x5 near 45 KB)."""
    from tfgan_cifar.lib import images, savedmodel
    loaded, meta = savedmodel.load(model_dir)
    samples = export_samples(loaded, meta, columns, seed, data_dir)
    images.atomic_write_bytes(path, images.png_bytes(images.grid(samples, rows=10), palette=True))
    return path


def export_samples(loaded, meta, columns=10, seed=0, data_dir="data"):
    """10 rows of `columns` samples of a loaded export (one row per class for conditional models), from the
    inputs its variant asks for: latent vectors from `seed`, or (sketch2img) its evaluation inputs, the sketches
    of held-out test images sorted by class."""
    import numpy as np

    from tfgan_cifar import gans
    from tfgan_cifar.lib import data, latent, savedmodel
    n = 10 * columns
    if meta["inputs"][0] == "z":
        labels = None
        if meta["conditional"]:
            classes = meta.get("classes") or list(range(meta["num_classes"]))
            labels = np.repeat(np.asarray(classes, np.int32), -(-n // len(classes)))[:n]
        return savedmodel.generate(loaded, latent.latent_vectors(n, meta["nz"], seed), labels)
    test = data.load(meta["dataset"], "test", data_dir, meta["image_size"], meta.get("classes"))
    held_out = data.random_subset(test, n, seed)
    held_out = data.ImageSet(*(a[np.argsort(held_out.labels, kind="stable")] for a in
                               (held_out.images, held_out.labels)), held_out.class_names)
    inputs, _, _ = gans.VARIANTS[meta["model"]].evaluation_inputs(meta, held_out, n, seed)
    return savedmodel.generate(loaded, inputs)


def file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def add(out, record):
    """Put `record` into the results file `out`, replacing one of the same name; its grid (written just before,
    beside `out`) is hashed into it. Returns the record as stored."""
    if record.get("grid"):
        record = dict(record, grid_sha256=file_sha256(os.path.join(os.path.dirname(out), record["grid"])))
    runs = load(out)["runs"] if os.path.exists(out) else []
    runs = [r for r in runs if r.get("name") != record["name"]] + [record]
    from tfgan_cifar.lib.images import atomic_write_bytes
    atomic_write_bytes(out, (json.dumps({"runs": runs}, indent=1) + "\n").encode())
    return record


def load(path):
    try:
        with open(path) as f:
            results = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read results file {path}: {e}")
    if not isinstance(results, dict) or not isinstance(results.get("runs"), list):
        raise UsageError(f"{path} is not a results file (an object with a list 'runs')")
    return results


def _cell(value, digits=2):
    return "" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def sides_table(results):
    """make bench-quality-cifar's table: each side's median steps and each judge's median (FD of every seed too),
    and the ratios to the reference (for the two-sample test, of the accuracies above chance)."""
    from tfgan_cifar.lib.judges import NAMES, ratio
    ref = results["reference"]
    judges = [k for k in ("fd",) + NAMES if k in ref]
    titles = dict(fd="FD", swd="SWD", c2st="two-sample acc.")
    lines = [f"Fréchet distance in {results['features']} features, sliced Wasserstein distance (x1e3) and a "
             f"two-sample test; {results['samples']} samples vs {results['reference_set']}; {results['budget_s']:g} s "
             f"of training each; median of {results['repeats']} seed(s) per side", "",
             "| side | steps (median) | " + " | ".join(f"{titles[k]} (median)" for k in judges) + " | FD of each seed | "
             + " | ".join(f"ratio: {titles[k]}" for k in judges) + " |",
             "| --- " * (3 + 2 * len(judges)) + "|"]
    for r in [ref] + results["levers"] + [results["recipe"]]:
        each = ", ".join(f"{run['fd']:.2f}" for run in r["runs"])
        lines.append(f"| `{r['name']}` | {r['steps']} | " + " | ".join(f"{r[k]:.3f}" for k in judges) + f" | {each} | "
                     + " | ".join(f"{ratio(k, r[k], ref[k]):.3f}" for k in judges) + " |")
    return "\n".join(lines)


def floors_table(results):
    """make floors's table: every judge's figures for real held-out images, damaged copies and generated sets."""
    lines = [f"| images ({results['n']:,} each) | FID | KID | recall | class acc. | intra-class diversity | SWD | "
             "two-sample acc. |", "| --- " * 8 + "|"]
    for name, s in results["sets"].items():
        labelled = "".join(f" {s[k]:.{d}f} |" if s.get(k) is not None else " |"  # unconditional samples: blank
                           for k, d in (("class_accuracy", 3), ("intra_class_diversity", 2)))
        lines.append(f"| {name} | {s['fid']:.2f} | {s['kid']:.4f} | {s['recall']:.3f} |{labelled} {s['swd']:.2f} | "
                     f"{s['c2st']:.3f} |")
    return "\n".join(lines) + (f"\n\nAgainst {results['reference']}; FID, KID and recall in {results['features']} "
                               f"features. CPU: {results['versions']['cpu']}, {results['date']}.")


def evaluator_table(meta):
    """make evaluator's record (docs/results/evaluator.json) as a one-row table."""
    tta = f"{meta['test_accuracy_tta']:.2%}" if meta.get("test_accuracy_tta") is not None else ""
    return ("| dataset | architecture | test accuracy | with test-time flips and shifts | epochs | trained on | "
            "training time | precision | CPU |\n" + "| --- " * 9 + "|\n"
            f"| {meta['dataset']} | {meta['architecture']} | {meta['test_accuracy']:.2%} | {tta} | {meta['epochs']} | "
            f"{meta['trained_on']} | {meta['train_seconds']:.0f} s | {meta['precision']} | {meta['cpu']} |")


# The three judges that share nothing (docs/evaluation.md): the evaluator's Fréchet distance, SWD, the two-sample test.
JUDGES = (("fid", "FID"), ("swd", "SWD"), ("c2st", "two-sample"))


def judges_verdict(run, baseline, repeats=()):
    """What each judge says of `run` against `baseline`: "all three better", "all three worse", or, where they
    disagree, which call it better and which worse. A judge without a figure on either side is left out, and so
    are figures measured differently: every judge's on other samples counts or references, FID's with another
    evaluator (two trainings of one recipe give other FIDs for the same samples; SWD and the two-sample test
    need no trained network). With `repeats` (the baseline trained again with other seeds), a judge calls a
    run better or worse only outside the range of the baseline's runs, else "within the baseline's N runs"."""
    from tfgan_cifar.lib.judges import distance
    said, apart = {}, []
    for key, title in JUDGES:
        if run.get(key) is None or baseline.get(key) is None:
            continue
        if not _comparable(key, run, baseline):
            apart.append(title)
            continue
        a = distance(key, run[key])
        sides = [distance(key, b[key]) for b in (baseline, *repeats)
                 if b.get(key) is not None and _comparable(key, b, baseline)]
        within = "the same" if len(sides) == 1 else f"within the baseline's {len(sides)} runs"
        said.setdefault("better" if a < min(sides) else "worse" if a > max(sides) else within, []).append(title)
    if len(said) == 1 and len(next(iter(said.values()))) == len(JUDGES):
        return f"all three {next(iter(said))}"
    return "; ".join([f"{', '.join(titles)} {verdict}" for verdict, titles in said.items()] +
                     [f"{', '.join(apart)} not compared (measured differently)"] * bool(apart))


def repeats_of(baseline, runs):
    """The records that are `baseline` trained again with another --seed (the same model and flags otherwise)."""
    flags = lambda r: sorted(a for a in r["args"].split() if not a.startswith("--seed="))
    return [r for r in runs if r is not baseline and r["model"] == baseline["model"] and r["args"] != baseline["args"]
            and flags(r) == flags(baseline)]


def _comparable(key, run, baseline):
    same = lambda *fields: all(run.get(f) == baseline.get(f) for f in fields)
    return same("n", "reference") and (key != "fid" or protocol_of(run) == protocol_of(baseline))


def markdown_table(path, grid_dir=None, baseline=None):
    """The table of a results file: one row per record, then the protocol of its metrics (grid links are
    `grid_dir`/<grid> when given, the results folder as seen from the markdown file, else beside `path`); with
    `baseline` (a record's name), a last column of what each judge says of every other row against that one (a
    lever table: docs say where the judges disagree; where the table holds the baseline trained with other seeds,
    against the range of all its runs); or the table of a bench-quality-cifar, floors or evaluator
    file."""
    try:
        with open(path) as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read results file {path}: {e}")
    if isinstance(raw, dict) and "sets" in raw:
        return floors_table(raw)
    if isinstance(raw, dict) and "test_accuracy" in raw:
        return evaluator_table(raw)
    results = load(path)
    if "recipe" in results:  # make bench-quality-cifar's file: its own table of sides, seeds and the ratio
        return sides_table(results)
    runs = results["runs"]
    base = None
    if baseline is not None:
        base = next((r for r in runs if r["name"] == baseline), None)
        if base is None:
            raise UsageError(f"{path} has no record named {baseline}; its records: "
                             f"{', '.join(r['name'] for r in runs)}")
    rows = ["| run | model | args | epochs (exported) | steps | seconds | FID | IS | KID | precision | recall | "
            "class acc. | intra-class diversity | SWD | two-sample acc. | grid |"
            + (f" judges vs {baseline} |" if base else ""), "| --- " * (17 if base else 16) + "|"]
    repeats = repeats_of(base, runs) if base else []
    seed = lambda r: next((a for a in r["args"].split() if a.startswith("--seed=")), "--seed=0")
    verdict = lambda r: ("" if base is None else " (the baseline) |" if r is base else f" (the baseline, {seed(r)}) |"
                         if any(r is x for x in repeats) else f" {judges_verdict(r, base, repeats)} |")
    for r in runs:
        grid = os.path.join(os.path.dirname(path) if grid_dir is None else grid_dir, r["grid"])
        exported = r.get("exported_epoch")
        epochs = f"{r.get('epochs', '')}" + (f" ({exported})" if exported not in (None, r.get("epochs")) else "")
        rows.append(f"| {r['name']} | `{r['model']}` | `{r['args']}` | {epochs} | {r['steps']:,} | {r['seconds']:.0f} | "
                    f"{_cell(r['fid'])} | {_cell(r['inception_score'])} | {_cell(r['kid'], 3)} | "
                    f"{_cell(r['precision'], 3)} | {_cell(r['recall'], 3)} | {_cell(r['class_accuracy'], 3)} | "
                    f"{_cell(r.get('intra_class_diversity'), 2)} | {_cell(r.get('swd'), 2)} | {_cell(r.get('c2st'), 3)} | "
                    f"[png]({grid}) |" + verdict(r))
    groups = protocols(runs)
    for i, members in enumerate(groups.values(), 1):  # a floor per protocol: its figures depend on the features
        floor = members[-1]["real_floor"]
        cells = [_cell(floor.get(k), 2 if k in ("fid", "inception_score", "intra_class_diversity", "swd") else 3)
                 for k in METRICS]
        label = "real test images (floor)" if len(groups) < 2 else f"real test images (floor, protocol {i})"
        rows.append(f"| {label} | | | | | | {' | '.join(cells)} | |" + (" |" if base else ""))
    if len(groups) < 2:
        described = next(iter(groups), "")
    else:
        described = "; ".join(f"({i}) {text}: rows {', '.join(r['name'] for r in members)}"
                              for i, (text, members) in enumerate(groups.items(), 1))
    cpus = sorted({r["versions"]["cpu"] for r in runs})
    return "\n".join(rows) + f"\n\nProtocol: {described}. CPU: {', '.join(cpus)}. {ONE_SIDED}"


def protocols(runs):
    """{what the figures were measured with: samples, reference and features (which evaluator, where a record
    names it: features_detail) -> the records measured so}. Two evaluators, or two trainings of one, give other
    FIDs for the same samples: a table whose rows were scored differently says which were scored how."""
    groups = {}
    for r in runs:
        groups.setdefault(protocol_of(r), []).append(r)
    texts = [text for text, _ in groups]
    return {text + (f" (key {key})" if texts.count(text) > 1 else ""): members
            for (text, key), members in groups.items()}


def protocol_of(record):
    """(samples, reference and features in words, the evaluator's key): two trainings of the evaluator may round
    to the same accuracy; their keys tell them apart."""
    features = record.get("features_detail") or record["features"]
    return f"N = {record['n']:,} samples vs {record['reference']}, {features} features", record.get("features_key")


# Why the floor row is not the best cell of every column (measured in docs/evaluation.md).
ONE_SIDED = ("Real images score best on FID, KID, recall, SWD (sliced Wasserstein distance x1e3 on pyramid patches) "
             "and the two-sample test (held-out accuracy of a small CNN telling samples from real images; 0.5: it "
             "cannot); IS, precision and class accuracy are one-sided: a generator that draws only typical or easily "
             "classified images scores above real ones on them, so read them next to recall (docs/evaluation.md).")


def main(argv):
    F = flags.FLAGS
    if F.table:
        print(markdown_table(F.table, baseline=F.baseline or None))
        return
    if not (F.out and F.name and F.run_dir and F.model_dir and F.eval):
        raise UsageError("give --table=FILE, or --out, --name, --run_dir, --model_dir and --eval to add a record")
    try:
        with open(F.eval) as f:
            evaluation = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read --eval {F.eval}: {e}")
    grid = write_grid(F.model_dir, os.path.join(os.path.dirname(F.out) or ".", f"{F.name}.png"))
    add(F.out, make_record(F.name, F.run_dir, evaluation, os.path.basename(grid), F.upto))
    print(f"added {F.name} to {F.out} (grid {grid})")


if __name__ == "__main__":
    from tfgan_cifar.lib.config import define_flags
    from tfgan_cifar.lib.errors import run
    define_flags(["run_dir"])  # the training run (config.json, metrics.jsonl)
    flags.DEFINE_string("out", "", "The results file to add a record to (created if missing).")
    flags.DEFINE_string("name", "", "The record's name (a record of the same name is replaced); also the grid's.")
    flags.DEFINE_string("model_dir", "", "Its export (the grid is sampled from it).")
    flags.DEFINE_string("eval", "", "Its evaluation: the JSON that make eval / tfgan_cifar.evaluate wrote.")
    flags.DEFINE_integer("upto", 0, "The record covers the run's first N epochs (its export was taken then and the "
                         "run resumed for longer since); 0: the whole run.")
    flags.DEFINE_string("table", "", "Print the markdown table of this results file instead.")
    flags.DEFINE_string("baseline", "", "With --table: add what each judge (FID, SWD, two-sample test) says of every "
                        "record against the record of this name.")
    run(main)

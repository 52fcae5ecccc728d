"""One static HTML page comparing every exported model: metrics next to the real-data floor, FID and
loss curves, final and best sample grids, one row per class for conditional models, and a latent
interpolation strip.

    python -m tfgan_cifar.tools.report [--models_dir=models --runs_dir=runs --out=report]

Writes <out>/index.html with its images beside it in <out>/<model>/. Sampling uses the SavedModels only.
"""
import glob
import html
import json
import os
import shutil

import numpy as np
from absl import flags

from tfgan_cifar.lib.callbacks import epoch_records
from tfgan_cifar.lib.config import define_flags as define_config_flags
from tfgan_cifar.lib.errors import UsageError

METRICS = (("fid", "FID", 2), ("inception_score", "IS", 2), ("kid", "KID", 3), ("precision", "precision", 3),
           ("recall", "recall", 3), ("class_accuracy", "class acc.", 3), ("intra_class_diversity", "diversity", 2),
           ("swd", "SWD", 2), ("c2st", "two-sample", 3))


def collapse_warning(metrics, floor=None):
    """A sentence when a conditional model's samples of a class cover far less of it than real images do
    (intra-class diversity below metrics.DIVERSITY_WARNING of real data's), else None."""
    from tfgan_cifar.lib.metrics import DIVERSITY_WARNING
    value = metrics.get("intra_class_diversity")
    if value is None or value >= DIVERSITY_WARNING:
        return None
    real = f" (held-out real images: {floor['intra_class_diversity']:.2f})" if floor and floor.get(
        "intra_class_diversity") is not None else ""
    worst = metrics.get("intra_class_diversity_min")
    return (f"collapse within classes: intra-class diversity {value:.2f} of real data's{real}"
            + (f", worst class {worst:.2f}" if worst is not None else "") + "; look at the per-class rows")


def training_warnings(run_dir):
    """The collapse warnings the quality monitor wrote during the run (callbacks.WARNINGS_FILE)."""
    from tfgan_cifar.lib.callbacks import WARNINGS_FILE, read_jsonl
    return read_jsonl(os.path.join(run_dir, WARNINGS_FILE)) if run_dir else []


def find_run(meta, model_dir, runs_dir):
    """The run that produced an export: recorded in its metadata, else the newest run of its variant."""
    if meta.get("run_dir") and os.path.isdir(meta["run_dir"]):
        return meta["run_dir"]
    runs = sorted(glob.glob(os.path.join(runs_dir, meta["model"], "*", "metrics.jsonl")))
    return os.path.dirname(runs[-1]) if runs else None


EVALUATION_KEYS = ("generated", "real_test_floor", "samples", "floor_samples", "features", "reference")


def best_evaluation(model_dir):
    """The `make eval` result with the most samples, or None; a file that is not one (unreadable, or without
    the fields the page shows) is skipped with a warning."""
    import sys
    results = []
    for path in glob.glob(os.path.join(model_dir, "eval_*.json")):
        try:
            with open(path) as f:
                result = json.load(f)
        except (OSError, ValueError) as e:
            print(f"warning: skipping {path}: unreadable ({type(e).__name__})", file=sys.stderr)
            continue
        missing = [k for k in EVALUATION_KEYS if not isinstance(result, dict) or k not in result
                   or k in ("generated", "real_test_floor") and not isinstance(result[k], dict)]
        if missing:
            print(f"warning: skipping {path}: not a make eval result (no {', '.join(missing)})", file=sys.stderr)
            continue
        results.append(result)
    return max(results, key=lambda r: r["samples"], default=None)


def collect(models_dir, runs_dir):
    """One entry per exported generator under models_dir (the evaluator is not one)."""
    from tfgan_cifar.lib import savedmodel
    entries = []
    for meta_path in sorted(glob.glob(os.path.join(models_dir, "*", "tfgan_cifar.json"))):
        model_dir = os.path.dirname(meta_path)
        try:
            loaded, meta = savedmodel.load(model_dir)
        except UsageError:
            continue
        run_dir = find_run(meta, model_dir, runs_dir)
        epochs = epoch_records(run_dir) if run_dir else []
        evaluation = best_evaluation(model_dir)
        exported = [r for r in epochs if r["epoch"] == meta.get("epoch")]  # the monitor's choice, in the run's records
        if evaluation:
            metrics = evaluation["generated"]
            source = (f"make eval: {evaluation['samples']} samples, {evaluation['features']} features, "
                      f"vs {evaluation['reference']}")
        elif exported and "fid" in exported[0]:
            metrics = {k: exported[0][k] for k, _, _ in METRICS + (("intra_class_diversity_min", "", 2),)
                       if k in exported[0]}
            source = f"training, exported epoch {meta['epoch']} of {len(epochs)}"
        else:
            metrics, source = {}, "not evaluated"
        warning = collapse_warning(metrics, evaluation["real_test_floor"] if evaluation else None)
        during = training_warnings(run_dir)
        if during:
            warning = "; ".join(([warning] if warning else []) + [f"during training: {w['text']}" for w in during])
        entries.append(dict(name=os.path.basename(model_dir), model_dir=model_dir, loaded=loaded, meta=meta,
                            run_dir=run_dir, epochs=epochs, metrics=metrics, source=source, evaluation=evaluation,
                            warning=warning, best_epoch=meta.get("epoch") if exported else None))
    return entries


def render_images(entry, out_dir, seed=0, data_dir="data"):
    """PNGs for one model in out_dir: curves and grids copied from its run, rows of samples (per class for
    conditional models) and, for latent-vector models, a walk between two seeds (slerp), sampled from its
    SavedModel. Returns {kind: relative path}."""
    from tfgan_cifar.lib import images, latent, savedmodel
    from tfgan_cifar.tools import results
    meta, loaded, files = entry["meta"], entry["loaded"], {}
    os.makedirs(out_dir, exist_ok=True)
    run = entry["run_dir"]
    grids = sorted(glob.glob(os.path.join(run, "samples", "epoch_*.png"))) if run else []
    sources = {"loss_curve": os.path.join(run, "loss_curve.png") if run else "",
               "fid_curve": os.path.join(run, "fid_curve.png") if run else "",
               "swd_curve": os.path.join(run, "swd_curve.png") if run else "",
               "final_grid": grids[-1] if grids else ""}
    if entry["best_epoch"] and run:
        sources["best_grid"] = os.path.join(run, "samples", f"epoch_{entry['best_epoch']:04d}.png")
    for kind, path in sources.items():
        if path and os.path.exists(path):
            shutil.copyfile(path, os.path.join(out_dir, f"{kind}.png"))
            files[kind] = f"{kind}.png"
    if meta["conditional"]:  # rows per class, from the inputs the export's variant asks for (sketch2img:
        samples = results.export_samples(loaded, meta, columns=8, seed=seed, data_dir=data_dir)  # test sketches)
        images.save_png(os.path.join(out_dir, "per_class.png"), images.grid(samples, rows=10), scale=2)
        files["per_class"] = "per_class.png"
    if meta["inputs"][0] != "z":  # no latent space to walk
        return files
    z = latent.walk(meta["nz"], seed + 1, seed + 2, 10)
    labels = np.full(10, (meta.get("classes") or [0])[0], np.int32) if meta["conditional"] else None
    images.save_png(os.path.join(out_dir, "interpolation.png"), images.grid(savedmodel.generate(loaded, z, labels), rows=1),
                    scale=2)
    files["interpolation"] = "interpolation.png"
    return files


def _cell(value, digits, evaluated=True, warning=None):
    """A metric cell; data-v is what sorting compares (empty sorts last). A warning marks it, as a tooltip."""
    if value is None:
        return f'<td class="na" data-v="">{"n/a" if evaluated else "not evaluated"}</td>'
    if warning:
        return f'<td class="warn" title="{html.escape(warning)}" data-v="{value}">{value:.{digits}f} &#9888;</td>'
    return f'<td data-v="{value}">{value:.{digits}f}</td>'


def render_html(entries, floors, images_of):
    esc = html.escape
    head = "".join(f'<th onclick="sortBy({i})">{esc(t)}</th>' for i, t in enumerate(
        ["model", "variant", "dataset", "epochs"] + [label for _, label, _ in METRICS] + ["measured by"]))
    rows = []
    for e in entries:
        m, meta = e["metrics"], e["meta"]
        cells = "".join(_cell(m.get(k), d, evaluated=bool(m), warning=e["warning"] if k == "intra_class_diversity"
                              else None) for k, _, d in METRICS)
        rows.append(f'<tr><td data-v="{esc(e["name"])}"><a href="#{esc(e["name"])}">{esc(e["name"])}</a></td>'
                    f'<td data-v="{esc(meta["model"])}">{esc(meta["model"])}</td><td data-v="{esc(meta["dataset"])}">'
                    f'{esc(meta["dataset"])}</td><td data-v="{meta["epoch"]}">{meta["epoch"]}</td>{cells}'
                    f'<td data-v="{esc(e["source"])}">{esc(e["source"])}</td></tr>')
    for label, floor in floors:
        cells = "".join(_cell(floor.get(k), d) for k, _, d in METRICS)
        rows.append(f'<tr class="floor"><td data-v="~">{esc(label)}</td><td data-v="~">real data</td>'
                    f'<td data-v="~"></td><td data-v=""></td>{cells}<td data-v="~">held-out real images, scored '
                    f'like the samples</td></tr>')
    sections = []
    captions = dict(final_grid="final epoch", best_grid="exported epoch", per_class="one row per class",
                    fid_curve="FID and SWD per epoch", swd_curve="SWD per epoch", loss_curve="losses", interpolation="latent interpolation")
    for e in entries:
        files = images_of[e["name"]]
        figures = "".join(f'<figure><img src="{esc(e["name"])}/{esc(files[k])}" alt="{esc(captions[k])}">'
                          f'<figcaption>{esc(captions[k])}</figcaption></figure>' for k in captions if k in files)
        meta = e["meta"]
        sections.append(f'<section id="{esc(e["name"])}"><h2>{esc(e["name"])}</h2><p>{esc(meta["model"])} on '
                        f'{esc(meta["dataset"])}, {meta["image_size"]}x{meta["image_size"]}, epoch {meta["epoch"]}, '
                        f'step {meta["step"]}; metrics: {esc(e["source"])}</p>'
                        + (f'<p class="warn">&#9888; {esc(e["warning"])}</p>' if e["warning"] else "")
                        + f'<div class="figs">{figures}</div></section>')
    body = ("<p>No exported models yet: train one (<code>make train</code>) and run <code>make report</code> again.</p>"
            if not entries else f'<table id="models"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
                                f'</table><p class="hint">Click a column to sort. Lower FID/KID is better; higher IS, '
                                f'precision, recall, class accuracy is better.</p>{"".join(sections)}')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tfgan_cifar report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ cursor: pointer; background: #f0f0f0; }} td:first-child, td:nth-child(2), td:nth-child(3), td:last-child {{ text-align: left; }}
tr.floor {{ background: #eef6ee; font-style: italic; }} .warn {{ color: #b00; font-weight: bold; }} td.na {{ color: #999; }} .hint {{ color: #666; }}
.figs {{ display: flex; flex-wrap: wrap; gap: 1em; }} figure {{ margin: 0; }} img {{ max-width: 480px; image-rendering: pixelated; }}
</style></head><body>
<h1>tfgan_cifar: trained models</h1>
{body}
<script>
function sortBy(col) {{
  const body = document.querySelector("#models tbody");
  const rows = Array.from(body.rows);
  const asc = body.dataset.col == col ? body.dataset.asc != "true" : true;
  const key = r => r.cells[col].dataset.v;
  rows.sort((a, b) => {{
    const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
    if (x === "" || y === "") return (x === "") - (y === "");
    const c = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
    return asc ? c : -c;
  }});
  rows.forEach(r => body.appendChild(r));
  body.dataset.col = col; body.dataset.asc = asc;
}}
// report/index.html#sort=4 opens the page sorted by column 4 (FID).
window.addEventListener("load", () => {{
  const m = location.hash.match(/^#sort=(\\d+)$/);
  if (m && document.querySelector("#models")) sortBy(Number(m[1]));
}});
</script></body></html>
"""


def build_report(models_dir="models", runs_dir="runs", out="report", data_dir="data"):
    """Write <out>/index.html (atomically) and the images; returns its path."""
    from tfgan_cifar.lib import images
    entries = collect(models_dir, runs_dir)
    images_of = {e["name"]: render_images(e, os.path.join(out, e["name"]), data_dir=data_dir) for e in entries}
    floors, seen = [], set()
    for e in entries:
        ev = e["evaluation"]
        if ev and (ev["reference"], ev["features"]) not in seen:
            seen.add((ev["reference"], ev["features"]))
            floors.append((f"real floor ({ev['features']}, {ev['floor_samples']} test images)", ev["real_test_floor"]))
    path = os.path.join(out, "index.html")
    images.atomic_write_bytes(path, render_html(entries, floors, images_of).encode())
    return path, entries


def main(argv):
    F = flags.FLAGS
    if not os.path.isdir(F.models_dir) and F.models_dir != "models":
        raise UsageError(f"--models_dir {F.models_dir!r} does not exist")
    path, entries = build_report(F.models_dir, F.runs_dir, F.out, F.data_dir)
    for e in entries:
        if e["warning"]:
            print(f"warning: {e['name']}: {e['warning']}")
    print(f"wrote {path} ({len(entries)} model{'s' if len(entries) != 1 else ''})")


def define_flags():
    flags.DEFINE_string("models_dir", "models", "Where exported generators are (<models_dir>/<model>/).")
    flags.DEFINE_string("runs_dir", "runs", "Where training runs are (<runs_dir>/<model>/<timestamp>/).")
    flags.DEFINE_string("out", "report", "Output directory: index.html and one image folder per model.")
    define_config_flags(["data_dir"])  # sketch2img's rows are drawn from the sketches of held-out test images


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    define_flags()
    run(main)

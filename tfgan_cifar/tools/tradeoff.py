"""Two metrics of every run in results files, as fractions of real images' (each record's own real floor), in one
scatter plot with a goal's box: where a table's rows lie against each other and against what is asked of them,
at a glance. The default pair is a conditional model's trade: class accuracy against within-class diversity.

    python -m tfgan_cifar.tools.tradeoff --models=acgan,cgan --goal=0.9,0.8 --out=docs/results/conditional_tradeoff.png \
        --files=docs/results/acgan_levers_on_default.json,docs/results/acgan_levers_three_judges.json

Each record's figures are divided by its own floor (real held-out images under the same evaluator), so tables
scored by different evaluators share the axes; real images are the point (1, 1). `--floors=FILE` (what make
floors writes) adds the damaged copies of the real images -- blurred, noised, shrunk -- the same way, over that
file's real row: where images with all of real data's variety but less of its detail lie.
"""
import json
import os

from absl import flags

from tfgan_cifar.lib.errors import UsageError

TITLES = dict(class_accuracy="class accuracy", intra_class_diversity="within-class diversity", recall="recall",
              precision="precision")


def points(paths, x, y, models=()):
    """[(file stem, record name, x / floor x, y / floor y, model)] of every record of `models` (all when empty)
    that has both metrics and its floor's."""
    from tfgan_cifar.tools import results
    found = []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        for r in results.load(path)["runs"]:
            floor = r.get("real_floor") or {}
            if (models and r.get("model") not in models) or any(r.get(k) is None or not floor.get(k) for k in (x, y)):
                continue
            found.append((stem, r["name"], r[x] / floor[x], r[y] / floor[y], r.get("model")))
    return found


def damaged(path, x, y):
    """[(damage, x / real x, y / real y)] of every damaged copy of the real images in a floors file (tools/floors.py;
    its generated sets are not drawn) over that file's real held-out images, scored by the same evaluator."""
    from tfgan_cifar.lib.judges import DAMAGED
    from tfgan_cifar.tools.floors import REAL
    with open(path) as f:
        sets = json.load(f)["sets"]
    real = sets.get(REAL) or {}
    if any(not real.get(k) for k in (x, y)):
        raise UsageError(f"--floors: {path} has no {x} and {y} for {REAL!r}")
    return [(name, s[x] / real[x], s[y] / real[y]) for name, s in sets.items()
            if name in DAMAGED and s.get(x) is not None and s.get(y) is not None]


def frontier(found):
    """The points no other point beats on both axes (at least as high on each, higher on one)."""
    return [p for p in found if not any(q[2] >= p[2] and q[3] >= p[3] and q[2:4] != p[2:4] for q in found)]


def label(point, found):
    """A point's name, with its file's stem where another file has a record of that name (a table's baseline
    reused, the same lever at another length)."""
    stem, name = point[:2]
    return f"{name} ({stem})" if any(q[1] == name and q[0] != stem for q in found) else name


def series(found):
    """[(legend, colour, marker, points)]: one colour per file, one marker per model (named in the legend only
    when there are several), in the order they first appear."""
    stems, models = (list(dict.fromkeys(p[k] for p in found)) for k in (0, 4))
    return [(f"{stem}: {model}" if len(models) > 1 else stem, f"C{i}", "os^Dv<>"[j % 7], mine)
            for i, stem in enumerate(stems) for j, model in enumerate(models)
            if (mine := [p for p in found if p[0] == stem and p[4] == model])]


def plot(path, found, x, y, goal=None, title="", floors=()):
    """The scatter: one colour per file and, when several models are drawn, one marker per model; the frontier's
    points named (a dozen names of a crowded corner would cover each other), real images starred, their damaged
    copies (`floors`, from damaged()) grey crosses, named, the goal's box (x >= goal[0], y >= goal[1], fractions
    of real images') shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tfgan_cifar.lib import images

    named = frontier(found)
    fig, ax = plt.subplots(figsize=(8, 6))
    if goal:
        ax.fill_between([goal[0], 2], goal[1], 2, color="tab:green", alpha=0.15,
                        label=f"goal: {TITLES.get(x, x)} >= {goal[0]:g}, {TITLES.get(y, y)} >= {goal[1]:g} of real")
    for legend, colour, marker, mine in series(found):
        ax.scatter([p[2] for p in mine], [p[3] for p in mine], color=colour, marker=marker, label=legend, zorder=3)
        for p in mine:
            if p in named:
                ax.annotate(label(p, found), p[2:4], fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.plot([1], [1], "k*", markersize=14, label="real held-out images", zorder=4)
    for i, (name, fx, fy) in enumerate(floors):
        ax.plot([fx], [fy], "X", color="0.45", markersize=9, zorder=4, label="real images, damaged" if i == 0 else None)
        ax.annotate(f"real, {name}", (fx, fy), fontsize=6.5, color="0.3", xytext=(0, -11), ha="center",
                    textcoords="offset points")
    ax.set_xlabel(f"{TITLES.get(x, x)}, fraction of real images'")
    ax.set_ylabel(f"{TITLES.get(y, y)}, fraction of real images'")
    shown = [p[2:4] for p in found] + [f[1:3] for f in floors]
    ax.set_xlim(0, max([1.05] + [px + 0.05 for px, _ in shown]))  # easy images can beat real ones' accuracy
    ax.set_ylim(0, max([1.05] + [py + 0.05 for _, py in shown]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    ax.set_title(title, fontsize=9)
    images.save_figure(path, fig)
    plt.close(fig)


def parse_goal(text):
    """'0.9,0.8' -> (0.9, 0.8); '' -> None."""
    if not text:
        return None
    try:
        goal = tuple(float(v) for v in text.split(","))
    except ValueError:
        goal = ()
    if len(goal) != 2 or not all(0 < v <= 1 for v in goal):
        raise UsageError(f"--goal takes two fractions of real images' figures, x,y in (0, 1], e.g. 0.9,0.8; "
                         f"got {text!r}")
    return goal


def main(argv):
    F = flags.FLAGS
    goal = parse_goal(F.goal)
    paths = [p for p in F.files.split(",") if p]
    if not paths or not F.out:
        raise UsageError("give --files=A.json[,B.json...] and --out=PNG")
    models = [m for m in F.models.split(",") if m]
    found = points(paths, F.x, F.y, models)
    who = ", ".join(models) or "every model"
    if not found:
        raise UsageError(f"no record of {who} in {', '.join(paths)} has {F.x} and {F.y} with their real floor")
    inside = [label(p, found) for p in found if goal and p[2] >= goal[0] and p[3] >= goal[1]]
    floors = damaged(F.floors, F.x, F.y) if F.floors else []
    plot(F.out, found, F.x, F.y, goal, F.title or f"{who}: {len(found)} runs, each over its own "
         "real floor", floors)
    print(f"wrote {F.out}: {len(found)} runs; the frontier (named in the plot): "
          f"{', '.join(label(p, found) for p in frontier(found))}"
          + (f"; in the goal's box: {', '.join(inside) or 'none'}" if goal else "")
          + "".join(f"; real, {name}: {fx:.2f}, {fy:.2f}" for name, fx, fy in floors))


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    flags.DEFINE_string("files", "", "Comma-separated results files (docs/results/*.json).")
    flags.DEFINE_string("models", "", "Comma-separated variants whose records are drawn; empty: all.")
    flags.DEFINE_string("x", "class_accuracy", "The metric on the x axis (a record key with a real floor).")
    flags.DEFINE_string("y", "intra_class_diversity", "The metric on the y axis.")
    flags.DEFINE_string("goal", "", "x,y: the goal as fractions of real images' figures, shaded (e.g. 0.9,0.8).")
    flags.DEFINE_string("title", "", "The plot's title; default names the model and the number of runs.")
    flags.DEFINE_string("floors", "", "A floors file (make floors): its damaged real images drawn over its real row.")
    flags.DEFINE_string("out", "", "The PNG to write.")
    run(main)

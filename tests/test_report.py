"""make report: the page lists every exported model with its metrics and the real floor, every image
link resolves, and a headless Chromium renders it without console errors."""
import html.parser
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXPORTS
from tfgan_cifar.lib.errors import UsageError
from tfgan_cifar.tools import report

pytestmark = pytest.mark.xdist_group(EXPORTS)  # one test worker builds the exports the page shows


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.rows, self.row, self.cell = [], [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "tr":
            self.row = []
        elif tag == "td" and self.row is not None:
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag == "td" and self.row is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row:
            self.rows.append(self.row)
            self.row = None


@pytest.fixture(scope="module")
def project(exports, tmp_path_factory):
    """The page of the shared exports (conftest.exports): dcgan (FID per epoch), acgan (make eval), mlp (never
    evaluated)."""
    root, _ = exports
    path, _ = report.build_report(str(root / "models"), str(root / "runs"), str(tmp_path_factory.mktemp("report")))
    with open(root / "models/acgan/eval_evaluator_n200.json") as f:
        return root, Path(path), json.load(f)


def test_every_model_appears_with_its_metrics_and_every_image_resolves(project):
    root, index, evaluation = project
    page = Page()
    page.feed(index.read_text())
    rows = {r[0]: r for r in page.rows}
    assert {"dcgan", "acgan", "mlp"} <= set(rows)
    fids = [json.loads(line)["fid"] for line in open(root / "runs/dcgan/1/metrics.jsonl")]
    exported = json.load(open(root / "models/dcgan/tfgan_cifar.json"))["epoch"]  # the monitor's choice
    assert rows["dcgan"][4] == f"{fids[exported - 1]:.2f}" and f"exported epoch {exported}" in rows["dcgan"][-1]
    assert rows["acgan"][4] == f"{evaluation['generated']['fid']:.2f}"
    assert rows["acgan"][9] == f"{evaluation['generated']['class_accuracy']:.3f}"
    assert rows["mlp"][4] == "not evaluated" and rows["mlp"][-1] == "not evaluated"
    [floor] = [r for r in page.rows if r[0].startswith("real floor")]
    assert floor[4] == f"{evaluation['real_test_floor']['fid']:.2f}"
    assert len(page.images) >= 3 * 3 and all((index.parent / src).is_file() for src in page.images)
    assert "acgan/per_class.png" in page.images and "dcgan/best_grid.png" in page.images
    assert "mlp/per_class.png" not in page.images  # unconditional: no class rows


def test_a_run_collapsed_within_classes_is_flagged():
    floor = dict(intra_class_diversity=1.02)
    warning = report.collapse_warning(dict(intra_class_diversity=0.31, intra_class_diversity_min=0.05), floor)
    assert warning == ("collapse within classes: intra-class diversity 0.31 of real data's (held-out real images: "
                       "1.02), worst class 0.05; look at the per-class rows")
    assert report.collapse_warning(dict(intra_class_diversity=0.8), floor) is None
    assert report.collapse_warning(dict(fid=3.0)) is None  # unconditional: no such figure


def test_empty_project_writes_a_page_saying_so(tmp_path):
    path, entries = report.build_report(str(tmp_path / "models"), str(tmp_path / "runs"), str(tmp_path / "report"))
    assert entries == [] and "No exported models yet" in open(path).read()


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package; apt-get install chromium)")
    return path


def run_chromium(*args):
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", *args], capture_output=True, text=True, timeout=120)


def console_errors(stderr):
    return [line for line in stderr.splitlines() if "CONSOLE" in line and ("Error" in line or "Uncaught" in line)]


def test_chromium_renders_the_page_without_console_errors(project, tmp_path):
    root, index, _ = project
    shot = tmp_path / "report.png"
    res = run_chromium(f"--screenshot={shot}", "--window-size=1280,1600", index.as_uri())
    assert shot.exists() and shot.stat().st_size > 50_000, res.stderr[-2000:]
    assert console_errors(res.stderr) == []
    broken = tmp_path / "broken.html"  # the check can fail: a page with a script error is caught
    broken.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    assert console_errors(run_chromium("--dump-dom", broken.as_uri()).stderr)


def test_sorting_in_the_browser_orders_rows_by_fid(project):
    root, index, _ = project
    res = run_chromium("--dump-dom", "--virtual-time-budget=2000", index.as_uri() + "#sort=4")
    page = Page()
    page.feed(res.stdout)
    values = [r[4] for r in page.rows if r and r[4] != "not evaluated"]
    assert len(values) >= 3 and [float(v) for v in values] == sorted(float(v) for v in values)
    assert page.rows[-1][4] == "not evaluated"  # unevaluated rows sort last


def test_an_evaluation_file_without_the_fields_the_page_shows_is_skipped_with_a_warning(tmp_path, capsys):
    from tfgan_cifar.tools.report import best_evaluation
    good = dict(generated={"fid": 2.0}, real_test_floor={"fid": 0.1}, samples=500, floor_samples=500,
                features="evaluator", reference="r")
    (tmp_path / "eval_evaluator_n500.json").write_text(json.dumps(good))
    (tmp_path / "eval_evaluator_n9000.json").write_text(json.dumps(dict(good, samples=9000, generated=None)))
    (tmp_path / "eval_inception_n10000.json").write_text(json.dumps({k: v for k, v in good.items() if k != "features"}
                                                                    | {"samples": 10000}))
    (tmp_path / "eval_broken_n1.json").write_text("{trunc")
    assert best_evaluation(str(tmp_path)) == good  # the larger ones lack what the page shows
    err = capsys.readouterr().err
    assert "eval_inception_n10000.json: not a make eval result (no features)" in err
    assert "eval_evaluator_n9000.json: not a make eval result (no generated)" in err and "unreadable" in err


def test_a_tensorboard_picture_draws_the_lines_of_the_tags_asked_for(project, tmp_path):
    """tools/tensorboard_shot on the dcgan run, asked for d_loss alone: TensorBoard's own chart with its line
    drawn (its Time Series dashboard, drawn with WebGL, came out as empty axes here) and no second chart."""
    import numpy as np
    from PIL import Image
    from tfgan_cifar.tools import tensorboard_shot
    chromium()
    root, _, _ = project
    out = tensorboard_shot.shoot(str(root / "runs/dcgan/1/tensorboard"), str(tmp_path / "tb.png"), "^d_loss$",
                                 width=1000, height=700)
    png = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert png.shape == (700, 1000, 3) and os.path.getsize(out) < 150_000

    def coloured(box):  # pixels of a run's line colour: saturated, and not the blue of the chart's icons
        saturated = box.max(-1) - box.min(-1) >= 60
        return int((saturated & (np.abs(box - (33, 150, 243)).max(-1) > 12)).sum())
    first, beside = png[220:420, 290:640], png[220:420, 640:990]  # the first chart's box; where a second would be
    assert coloured(first) > 200 and coloured(beside) == 0, (coloured(first), coloured(beside))
    with pytest.raises(UsageError, match="no TensorBoard logs"):
        tensorboard_shot.shoot(str(tmp_path / "nowhere"), str(tmp_path / "x.png"))

"""make bench-quality-cifar: the reference is the plain hand-written DCGAN the issue describes (no EMA,
no augmentation, float32, no tfgan_cifar code), it trains, and the recipe is dcgan's named preset."""
import hashlib
import json

import numpy as np
import pytest

from conftest import run_forked
from tfgan_cifar.tools import bench_quality_cifar as bq
from tfgan_cifar.tools import results as results_format
from tfgan_cifar.lib import data


def test_reference_is_a_plain_dcgan_independent_of_the_project(tmp_path):
    """Training and sampling the reference imports no tfgan_cifar module beyond the bench's own, and leaves the
    float32 policy in place (in a process that has imported no tfgan_cifar module before); what it is, is stated
    in REFERENCE (reported with its result)."""
    code = ("import sys, keras, numpy as np\n"
            "from tfgan_cifar.tools import bench_quality_cifar as bq\n"
            "before = {m for m in sys.modules if m.startswith('tfgan_cifar')}\n"
            "images = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)\n"
            "generate, steps = bq.reference_dcgan(images, budget=1.0, width=8, batch_size=16)\n"
            "generate(np.zeros((2, 100), np.float32))\n"
            "print(keras.mixed_precision.dtype_policy().name, steps > 0,\n"
            "      sorted({m for m in sys.modules if m.startswith('tfgan_cifar')} - before))\n")
    (tmp_path / "check.py").write_text(code)
    out = run_forked(str(tmp_path / "check.py"), ["check.py"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "float32 True []"
    assert bq.REFERENCE["ema"] is None and bq.REFERENCE["augmentation"] is None
    assert bq.REFERENCE["precision"] == "float32" and bq.REFERENCE["batch_size"] == 64


def test_reference_trains_within_its_budget_and_samples_images(monkeypatch):
    """The budget is the stopping rule: train, then stop at the first step that ends past the budget. On a clock
    that advances one second per reading (no timing in the test): budget 0 -> 1 step, 2.5 s -> 3 steps; what it
    trained samples different images from different z."""
    import itertools
    import types
    images = data.make_shapes(256, seed=0).images
    for budget, expected in ((0.0, 1), (2.5, 3)):
        ticks = itertools.count()
        monkeypatch.setattr(bq, "time", types.SimpleNamespace(perf_counter=lambda: float(next(ticks))))
        generate, steps = bq.reference_dcgan(images, budget=budget, width=8, batch_size=16)
        assert steps == expected, budget
    out = generate(np.random.default_rng(0).standard_normal((5, 100)).astype(np.float32))
    assert out.shape == (5, 32, 32, 3) and out.dtype == np.uint8
    assert len({image.tobytes() for image in out}) == 5


def test_recipe_is_dcgans_named_preset():
    from tfgan_cifar.lib.errors import UsageError
    config = bq.recipe_config("cpu_fast", 600, "data", "/tmp/unused")
    assert config.model == "dcgan" and config.time_budget == 600 and config.batch_size == 64
    assert config.precision == "auto" and config.ema == 0.0 and config.simultaneous is False
    assert config.width == 48 and config.lr_decay == "linear" and config.lr_decay_start == 0.5
    assert config.g_lr == config.d_lr == 4e-4 and config.loss == "bce" and config.norm == "batch"
    with pytest.raises(UsageError, match="not a preset of dcgan"):
        bq.recipe_config("turbo", 600, "data", "/tmp/unused")


def test_levers_parse_into_typed_override_sets():
    from tfgan_cifar.lib.errors import UsageError
    levers = bq.parse_levers("baseline; precision=mixed_bfloat16; ema=0.999 g_lr=1e-4; diffaugment=color,translation;")
    assert levers == [{}, {"precision": "mixed_bfloat16"}, {"ema": 0.999, "g_lr": 1e-4},
                      {"diffaugment": "color,translation"}]
    assert [bq.side_name(o) for o in levers[:3]] == ["baseline", "precision=mixed_bfloat16", "ema=0.999,g_lr=0.0001"]
    for bad, message in (("warp=9", "unknown or fixed key 'warp'"), ("ema", "look like name=value"),
                         ("ema=fast", "not a valid float"), ("data_dir=/x", "unknown or fixed key")):
        with pytest.raises(UsageError, match=message):
            bq.parse_levers(bad)
    config = bq.recipe_config("cpu_fast", 600, "data", "/tmp/unused", {"loss": "hinge", "ema": 0.99})
    assert config.loss == "hinge" and config.ema == 0.99 and config.precision == "auto" and config.preset == ""


def test_a_measured_side_is_cached_and_not_trained_again(tmp_path):
    calls = []

    def train_and_sample():
        calls.append(1)
        return np.full((64, 32, 32, 3), len(calls), np.uint8), 7

    settings = bq.settings_of(bq.recipe_config("cpu_fast", 600, "data", "/tmp/unused", {"ema": 0.999}))
    assert settings["ema"] == 0.999 and settings["precision"] == "auto"
    judge = lambda fake: dict(fd=float(fake.mean()) + 3.0, swd=2.0 * float(fake.mean()))
    measure = lambda budget, score=judge, s=settings, by="one": bq.measure("ema=0.999", str(tmp_path), budget, 1000, s,
                                                                         train_and_sample, score, by)
    first = measure(600)
    again = measure(600, lambda fake: dict(fd=0.0))
    assert first == again and (first["fd"], first["swd"], first["steps"]) == (4.0, 2.0, 7) and len(calls) == 1
    assert (tmp_path / "ema=0.999" / "grid.png").exists()
    # Other judges: the kept samples are scored again, nothing is trained.
    rescored = measure(600, lambda fake: dict(fd=float(fake.mean()) * 10, c2st=0.75), by="two")
    assert len(calls) == 1 and (rescored["fd"], rescored["c2st"], rescored["steps"]) == (10.0, 0.75, 7)
    measure(300)  # other budget: measured again
    assert len(calls) == 2
    measure(300, s=dict(settings, ema=0.99))  # other settings (a redefined preset): again
    assert len(calls) == 3


def test_repeats_use_successive_seeds_and_a_side_is_its_median_run():
    first, third = (bq.recipe_config("cpu_fast", 600, "data", "/tmp/w", {"ema": 0.99, "seed": 5}, k) for k in (0, 2))
    assert (first.seed, third.seed, third.ema) == (5, 7, 0.99)
    assert first.run_dir.startswith("/tmp/w/ema=0.99,seed=5/seed5/") and "/seed7/" in third.run_dir
    runs = [dict(name=f"x/seed{k}", fd=fd, swd=swd, c2st=c2st, steps=steps)
            for k, fd, swd, c2st, steps in ((0, 9.0, 30.0, 0.9, 10), (1, 4.0, 10.0, 0.7, 30), (2, 6.0, 40.0, 0.8, 20))]
    summary = bq.side("x", runs)
    assert summary["fd"] == np.median([9.0, 4.0, 6.0]) and summary["median_run"] == "x/seed2"
    assert (summary["swd"], summary["c2st"]) == (30.0, 0.8)  # each judge's own median
    assert summary["steps"] == 20 and summary["runs"] == runs
    results = dict(features="evaluator", samples=1000, reference_set="r", budget_s=600, repeats=3, levers=[],
                   reference=bq.side("reference", [dict(runs[0], name="reference/seed0")]), recipe=summary)
    row = results_format.sides_table(results).splitlines()[-1]
    # ratios: FD 6/9, SWD 30/30, two-sample accuracy above chance (0.8 - 0.5) / (0.9 - 0.5)
    assert row == "| `x` | 20 | 6.000 | 30.000 | 0.800 | 9.00, 4.00, 6.00 | 0.667 | 1.000 | 0.750 |"


def test_published_results_are_run_records_whose_table_is_the_benchs(tmp_path):
    from PIL import Image

    from tfgan_cifar.lib import images
    source = tmp_path / "grid.png"
    images.save_png(str(source), images.grid(np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), np.uint8)),
                    scale=2)
    assert bq.publish_grid(str(source), str(tmp_path / "q.png")) == "q.png"
    published = Image.open(tmp_path / "q.png")
    assert published.size == (Image.open(source).width // 2, Image.open(source).height // 2) and published.mode == "P"
    runs = [dict(name=f"reference/seed{k}", fd=fd, steps=100 + k) for k, fd in enumerate((9.0, 8.0, 10.0))]
    results = dict(features="evaluator", samples=1000, reference_set="r", budget_s=600, repeats=3, levers=[],
                   reference=bq.side("reference", runs), recipe=bq.side("cpu_fast", [dict(runs[0], name="cpu_fast/seed0")]))
    config = bq.recipe_config("cpu_fast", 600, "data", "/tmp/w")
    results["runs"] = [bq.record(run, results, "q.png" if run["name"] == "reference/seed0" else None,
                                 config if run["name"].startswith("cpu_fast") else None, str(tmp_path))
                       for side in (results["reference"], results["recipe"]) for run in side["runs"]]
    first, last = results["runs"][0], results["runs"][-1]
    assert (first["fid"], first["steps"], first["n"], first["seconds"], first["grid"]) == (9.0, 100, 1000, 600, "q.png")
    assert first["grid_sha256"] == hashlib.sha256((tmp_path / "q.png").read_bytes()).hexdigest()
    assert "grid_sha256" not in results["runs"][1]  # a run without a published grid
    assert first["args"].startswith("hand-written") and "--preset=cpu_fast" in last["args"] and last["kid"] is None
    path = tmp_path / "quality_cifar.json"
    path.write_text(json.dumps(results))
    assert results_format.markdown_table(str(path)) == results_format.sides_table(results)

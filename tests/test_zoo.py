"""make zoo on `shapes` with a budget of a second per model: a variant trains, exports, is evaluated and gets a
record and a grid; a second call reuses the cached result instead of training again. Trained for one variant of
each kind the zoo treats apart (test_gans round-trips every variant's export); every variant's zoo settings are
checked without training."""
import json
import os

import pytest

from tfgan_cifar import gans
from tfgan_cifar.lib import features
from tfgan_cifar.lib import metrics as metrics_module
from tfgan_cifar.lib.errors import UsageError
from tfgan_cifar.tools import results, zoo

# One test worker for all: the reference statistics and real floors in its data folder are scored once for every
# entry, and these long tests are handed out first, not last (pytest-xdist schedules groups before single tests).
pytestmark = pytest.mark.xdist_group("zoo")


def test_every_variant_is_configured_for_the_zoo_with_its_cpu_preset_where_it_has_one(tmp_path):
    entries = zoo.zoo_entries(sorted(gans.VARIANTS))
    assert [e.model for e in entries] == sorted(gans.VARIANTS)
    for entry in entries:
        assert entry.preset == ("" if entry.model == "sagan" else "cpu_fast")  # sagan has no CPU preset
        config = zoo.zoo_config(entry, "shapes", "data", 1800, str(tmp_path))  # validated as train validates it
        assert (config.time_budget, config.fid_every, config.dataset) == (1800, 0, "shapes")
        assert config.export_dir == str(tmp_path / "models" / entry.model)
        preset = gans.VARIANTS[entry.model].NAMED_PRESETS.get(entry.preset, {})
        assert all(getattr(config, k) == v for k, v in preset.items() if k not in ("precision", "epochs"))
        # the flags its record will carry: its CPU preset, if any, and the budget
        assert results.args_of(config) == " ".join(["--epochs=100000", "--time_budget=1800"] +
                                                   [f"--preset={entry.preset}"] * bool(entry.preset))
    # A lever table's baseline is the variant unchanged, named after it.
    [baseline] = zoo.lever_entries("acgan", [{}])
    assert (baseline.name, baseline.preset, baseline.overrides) == ("acgan", "", {})


# One variant of each kind: unconditional (latent only), conditional (+ label), and sketch-conditioned (+ sketch,
# scored against test sketches). (A variant without a CPU preset differs only in its flags, checked above.)
@pytest.mark.parametrize("model", ["dcgan", "acgan", "sketch2img"])
def test_zoo_trains_evaluates_and_records_a_variant_then_reuses_it(model, evaluator_root, tmp_path):
    out, work = str(tmp_path / "results" / "zoo.json"), str(tmp_path / "work")
    lines = []
    # The worker's data folder: reference statistics and the real floor are scored once for every entry.
    run = lambda out=out: zoo.run_zoo([model], "shapes", str(evaluator_root / "data"), budget=1.0, n=100, out=out,
                                      work_dir=work, evaluator_root=str(evaluator_root / "models" / "evaluator"),
                                      examples=256, progress=False, log=lambda message, **_: lines.append(message))
    first = run()
    [record] = json.load(open(out))["runs"]
    assert record["name"] == record["model"] == model and first == [record]
    assert record["dataset"] == "shapes" and record["n"] == 100 and record["steps"] >= 1
    assert record["features"] == "evaluator"
    assert record["reference"].startswith("shapes train split, its reference part")
    assert (record["class_accuracy"] is None) == (not gans.VARIANTS[model].conditional)
    assert "--time_budget=1" in record["args"]
    assert "--preset=cpu_fast" in record["args"]
    grid = tmp_path / "results" / record["grid"]
    assert grid.exists() and os.path.getsize(grid) <= 150_000
    assert not any(": cached, " in line for line in lines)

    lines.clear()
    elsewhere = str(tmp_path / "published" / "zoo.json")  # e.g. first into bench/, then into docs/results/
    os.makedirs(tmp_path / "published")
    (tmp_path / "published" / record["grid"]).write_bytes(b"an older measurement's grid")
    again = run(elsewhere)
    assert any(": cached, " in line for line in lines)  # nothing trained again
    assert not any("training" in line for line in lines)
    assert json.loads(json.dumps(again)) == json.loads(json.dumps(first))
    assert (tmp_path / "published" / record["grid"]).read_bytes() == grid.read_bytes()  # its grid follows it
    assert again[0]["grid_sha256"] == record["grid_sha256"]
    assert results.markdown_table(elsewhere).count("\n| ") == 3  # header rule, the row, the floor

    # Another session or machine, its work folder gone: the results file's own record (the same settings, by
    # their digest, and the same evaluator) is reused; a record of other settings is not.
    lines.clear()
    work = str(tmp_path / "another_machine")
    assert run(elsewhere) == again and any(": cached, " in line for line in lines)
    assert not os.path.exists(os.path.join(work, model, "run"))  # nothing trained
    [entry] = zoo.zoo_entries([model])
    config = zoo.zoo_config(entry, "shapes", str(evaluator_root / "data"), 1.0, work, examples=256)
    assert zoo.cached_record(model, config, 100, work, elsewhere) == again[0]
    assert zoo.cached_record(model, config, 200, work, elsewhere) is None  # another sample count
    other = zoo.zoo_config(entry, "shapes", str(evaluator_root / "data"), 2.0, work, examples=256)
    assert zoo.cached_record(model, other, 100, work, elsewhere) is None  # another budget
    # Scored there by another evaluator: kept as it is, under its own protocol, since its export is not here.
    published = json.load(open(elsewhere))
    published["runs"][0].update(features_key="another", features_detail="evaluator (another training)")
    json.dump(published, open(elsewhere, "w"))
    lines.clear()
    work = str(tmp_path / "a_third_machine")
    [kept] = run(elsewhere)
    assert (kept["features_key"], kept["fid"]) == ("another", again[0]["fid"])
    assert any(": cached, as another evaluator scored it" in line for line in lines)
    assert not os.path.exists(os.path.join(work, model, "run"))


def test_levers_train_one_model_once_per_lever_for_some_epochs(evaluator_root, tmp_path, monkeypatch):
    """make levers: one flag and a named preset, each a record and a grid named after the lever."""
    from tfgan_cifar.tools import sweep
    out = str(tmp_path / "results" / "acgan_levers.json")
    levers = sweep.parse_levers("g_class_weight=0.5; preset=seed")
    lines = []
    records = zoo.run_zoo(["acgan"], "shapes", str(evaluator_root / "data"), budget=0, n=100, out=out,
                          work_dir=str(tmp_path / "work"), evaluator_root=str(evaluator_root / "models" / "evaluator"),
                          examples=256, progress=False, log=lambda message, **_: lines.append(message),
                          levers=levers, epochs=1)
    starts = [line for line in lines if ": training 1 epochs" in line]
    assert len(starts) == 2 and starts[0].endswith("(ETA for the rest: 2 x 1 epochs of training + scoring)")
    assert starts[1].endswith(" min)")  # measured on the entry trained
    assert [r["name"] for r in records] == ["acgan_g_class_weight-0.5", "acgan_preset-seed"]
    # Each entry ends with every judge's figure.
    assert [line for line in lines if " steps, " in line] == [
        f"[{i}/2] {r['name']}: {r['steps']} steps, FID {r['fid']:.3f}, SWD {r['swd']:.3f}, two-sample {r['c2st']:.3f}, "
        f"recall {r['recall']:.3f}" for i, r in enumerate(records, 1)]
    assert [r["epochs"] for r in records] == [1, 1] and all(r["steps"] == 256 // 64 for r in records)
    common = "--examples=256 --epochs=1 --precision=float32"  # no --time_budget
    assert [r["args"] for r in records] == [f"{common} --g_class_weight=0.5", f"{common} --preset=seed"]
    from PIL import Image
    # Lever grids: 10 rows of 5 samples (32 px cells, 2 px gaps), a row per class.
    assert [r["grid"] for r in records] == [f"acgan_levers/{r['name']}.png" for r in records]
    assert all(Image.open(tmp_path / "results" / r["grid"]).size == (5 * 34 + 2, 10 * 34 + 2) for r in records)
    # When the variant's default moves to a lever's value, that lever's cached record stays (same settings)
    # and its args are its flags beyond the new defaults.
    from tfgan_cifar.gans.acgan import ACGAN
    monkeypatch.setattr(ACGAN, "PRESET", dict(ACGAN.PRESET, g_class_weight=0.5))
    lines.clear()
    [again] = zoo.run_zoo(["acgan"], "shapes", str(evaluator_root / "data"), budget=0, n=100, out=out,
                          work_dir=str(tmp_path / "work"), evaluator_root=str(evaluator_root / "models" / "evaluator"),
                          examples=256, progress=False, log=lambda message, **_: lines.append(message),
                          levers=[{"g_class_weight": 0.5}], epochs=1)
    assert any(": cached, " in line for line in lines) and "--g_class_weight" not in again["args"]
    with pytest.raises(UsageError, match="varies one model"):
        zoo.run_zoo(["acgan", "dcgan"], "shapes", "data", 0, 100, out, str(tmp_path / "w"), levers=levers, epochs=1)


def test_an_interrupted_epoch_based_entry_continues_from_its_last_checkpoint(evaluator_root, tmp_path, capsys,
                                                                           monkeypatch):
    """A lever killed after its first of two epochs (its newest checkpoint gone, never scored) trains only the
    second epoch when make levers runs again."""
    import tensorflow as tf

    from tfgan_cifar import evaluate
    work, out, lines = tmp_path / "work", str(tmp_path / "levers.json"), []
    run = lambda progress=False: zoo.run_zoo(
        ["dcgan"], "shapes", str(evaluator_root / "data"), budget=0, n=100, out=out, work_dir=str(work),
        evaluator_root=str(evaluator_root / "models" / "evaluator"), examples=256, progress=progress,
        log=lambda message, **_: lines.append(message), levers=[{}], epochs=2)

    class Killed(Exception):
        pass

    with monkeypatch.context() as patch:  # killed once trained, before its evaluation
        patch.setattr(evaluate, "evaluate", lambda *a, **k: (_ for _ in ()).throw(Killed()))
        with pytest.raises(Killed):
            run()
    folder = work / "dcgan" / "run" / "checkpoints"
    kept = str(folder / "ckpt-4")
    assert os.path.exists(kept + ".index") and os.path.exists(folder / "ckpt-8.index")
    assert not (work / "dcgan" / "result.json").exists()
    for f in folder.glob("ckpt-8.*"):
        f.unlink()
    tf.compat.v1.train.update_checkpoint_state(str(folder), kept, [kept])
    metrics = work / "dcgan" / "run" / "metrics.jsonl"
    capsys.readouterr()
    [again] = run(progress=True)
    shown = capsys.readouterr().out
    assert "resumed " + kept + " at epoch 1, step 4" in shown
    # with progress, a line per epoch trained (not a terminal here), so a long lever shows how far it is
    assert "Epoch 2/2" in shown and "Epoch 1/2" not in shown
    assert again["steps"] == 8 and again["epochs"] == 2
    assert [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()] == [1, 2]

    # A result scored with an older definition of the metrics is scored again from its export, not retrained.
    cache = work / "dcgan" / "result.json"
    stale = json.loads(cache.read_text())
    stale["record"].update(metrics_version=1, fid=123.0)
    cache.write_text(json.dumps(stale))
    lines.clear()
    [rescored] = run()
    assert rescored["metrics_version"] == metrics_module.VERSION and rescored["fid"] == pytest.approx(again["fid"])
    assert any("scored again" in line for line in lines) and not any("training" in line for line in lines)
    assert len(metrics.read_text().splitlines()) == 2
    # So is one whose figures another evaluator's features gave (one since retrained: another key).
    stale = json.loads(cache.read_text())
    assert stale["record"]["features_key"] == features.evaluator_key(str(evaluator_root / "models" / "evaluator" /
                                                                         "shapes_32"))
    stale["record"].update(features_key="retrained", fid=123.0)
    cache.write_text(json.dumps(stale))
    lines.clear()
    [rescored] = run()
    assert rescored["fid"] == pytest.approx(again["fid"]) and rescored["features_key"] != "retrained"
    assert any("scored again" in line for line in lines) and not any("training" in line for line in lines)
    # One from before records named their evaluator is named after the evaluator its key says scored it.
    stale = json.loads(cache.read_text())
    named = stale["record"].pop("features_detail")
    assert named.startswith("evaluator (small, ") and "test accuracy, trained on" in named
    cache.write_text(json.dumps(stale))
    lines.clear()
    [cached] = run()
    assert any(": cached, " in line for line in lines) and cached["features_detail"] == named

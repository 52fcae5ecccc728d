"""docs/results/*.json: records built from a run, its export and its evaluation; the README table from them."""
import hashlib
import json
import os

import pytest

from conftest import ROOT, tiny_config
from tfgan_cifar.tools import results
from tfgan_cifar import train


def test_args_are_the_flags_beyond_the_variants_defaults():
    config = tiny_config("dcgan", norm="spectral", time_budget=600.0, precision="auto")
    # tiny_config itself departs from the defaults in width, batch size, epochs and examples.
    assert results.args_of(config) == ("--examples=256 --epochs=1 --batch_size=16 --time_budget=600 --width=8 "
                                       "--norm=spectral")
    # A resolved --precision=auto shows as what it resolved to.
    assert results.args_of(tiny_config("sagan", width=64, batch_size=64, epochs=10, examples=20000)) == \
        "--precision=float32"


def test_args_of_a_run_with_a_named_preset_are_the_preset_and_its_departures_from_it(monkeypatch):
    """They reproduce the run also when the variant's defaults later move to the run's values."""
    from tfgan_cifar import gans
    from tfgan_cifar.gans.acgan import ACGAN
    lever = gans.make_config("acgan", "seed", conditioning="cbn", class_fake_weight=0.0, precision="float32")
    assert results.args_of(lever) == "--precision=float32 --conditioning=cbn --class_fake_weight=0 --preset=seed"
    monkeypatch.setattr(ACGAN, "PRESET", dict(ACGAN.PRESET, conditioning="multiply", class_fake_weight=1.0))
    assert results.args_of(lever) == "--precision=float32 --conditioning=cbn --class_fake_weight=0 --preset=seed"
    assert results.args_of(gans.make_config("acgan", "seed", precision="float32")) == "--precision=float32 --preset=seed"
    # A flag the others imply is left out: --lr_decay=none alone turns off the published decay's start too.
    assert results.args_of(gans.make_config("acgan", lr_decay="none", precision="float32")) == \
        "--precision=float32 --lr_decay=none"
    assert results.args_of(gans.make_config("acgan", lr_decay_start=0.25, precision="float32")) == \
        "--precision=float32 --lr_decay_start=0.25"


def test_a_record_from_a_run_export_and_evaluation_and_its_table(tmp_path):
    config = tiny_config("acgan", fid_every=0, run_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "models"))
    _, run_dir, model_dir = train.train(config, verbose=0)
    floor = dict(fid=1.5, inception_score=7.0, kid=0.001, precision=0.7, recall=0.8, class_accuracy=0.9,
                 intra_class_diversity=1.01, swd=3.25, c2st=0.5125)
    evaluation = dict(samples=1000, reference="shapes train split (256 images)", features="evaluator", epoch=1,
                      generated=dict(fid=12.345, inception_score=3.2, kid=0.0456, precision=0.5, recall=0.25,
                                     class_accuracy=0.625, intra_class_diversity=0.4, swd=41.5, c2st=0.875),
                      real_test_floor=floor)
    out = tmp_path / "docs" / "results.json"
    grid = results.write_grid(model_dir, str(tmp_path / "docs" / "acgan_tiny.png"))
    record = results.make_record("acgan_tiny", run_dir, evaluation, os.path.basename(grid))
    assert (record["model"], record["epochs"], record["exported_epoch"], record["steps"], record["n"]) == (
        "acgan", 1, 1, 16, 1000)
    assert record["fid"] == 12.345 and record["class_accuracy"] == 0.625 and record["real_floor"] == floor
    assert record["grid"] == "acgan_tiny.png" and record["args"].startswith("--examples=256")
    assert "sketch_f1" not in record and "kid_std" not in record  # a variant's own metrics only where it has them
    extras = dict(evaluation, generated=dict(evaluation["generated"], sketch_f1=0.42, kid_std=0.01),
                  real_test_floor=dict(floor, sketch_f1_chance=0.21))
    with_extras = results.make_record("acgan_tiny", run_dir, extras, os.path.basename(grid))
    assert with_extras["sketch_f1"] == 0.42 and "kid_std" not in with_extras
    assert with_extras["real_floor"] == dict(floor, sketch_f1_chance=0.21)
    from PIL import Image
    assert Image.open(grid).size == (10 * 34 + 2, 10 * 34 + 2)  # 10x10 cells of 32 px with 2 px gaps
    results.add(str(out), record)
    results.add(str(out), dict(record, fid=11.0))  # the same name replaces
    results.add(str(out), dict(record, name="other", epochs=3))  # trained 3 epochs, its best (1) exported
    assert [(r["name"], r["fid"]) for r in json.load(open(out))["runs"]] == [("acgan_tiny", 11.0), ("other", 12.345)]
    assert json.load(open(out))["runs"][0]["grid_sha256"] == hashlib.sha256(open(grid, "rb").read()).hexdigest()
    table = results.markdown_table(str(out)).splitlines()
    assert table[2].startswith("| acgan_tiny | `acgan` | `--examples=256")
    assert "| 1 | 16 |" in table[2] and "| 3 (1) | 16 |" in table[3]
    assert "| 11.00 | 3.20 | 0.046 | 0.500 | 0.250 | 0.625 | 0.40 | 41.50 | 0.875 |" in table[2]
    assert table[4] == ("| real test images (floor) | | | | | | 1.50 | 7.00 | 0.001 | 0.700 | 0.800 | 0.900 | 1.01 | "
                        "3.25 | 0.512 | |")
    assert table[-1].startswith("Protocol: N = 1,000 samples vs shapes train split (256 images), evaluator features.")
    # Rows scored by another evaluator (retrained since) say so, each group with its rows.
    detail = "evaluator (airbench, 91.0% test accuracy, trained on 2 images)"
    retrained = results.make_record("later", run_dir, dict(evaluation, features_detail=detail, features_key="k2",
                                                           real_test_floor=dict(floor, fid=0.9)), os.path.basename(grid))
    assert (retrained["features_detail"], retrained["features_key"]) == (detail, "k2")
    results.add(str(out), retrained)
    mixed = results.markdown_table(str(out)).splitlines()
    assert mixed[-1].startswith(
        "Protocol: (1) N = 1,000 samples vs shapes train split (256 images), evaluator features: rows acgan_tiny, "
        f"other; (2) N = 1,000 samples vs shapes train split (256 images), {detail} features: rows later.")
    assert mixed[5].startswith("| real test images (floor, protocol 1) | | | | | | 1.50 |")
    assert mixed[6].startswith("| real test images (floor, protocol 2) | | | | | | 0.90 |") and len(mixed) == 9
    # Resumed for a second epoch since the export was taken: upto=1 records the first epoch as it was.
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        first = json.loads(f.readline())
    with open(os.path.join(run_dir, "metrics.jsonl"), "a") as f:
        f.write(json.dumps(dict(first, epoch=2, step=32)) + "\n")
    saved = json.load(open(os.path.join(run_dir, "config.json")))
    json.dump(dict(saved, epochs=2), open(os.path.join(run_dir, "config.json"), "w"))
    whole = results.make_record("acgan_tiny", run_dir, evaluation, os.path.basename(grid))
    assert (whole["epochs"], whole["steps"], "--epochs=2" in whole["args"]) == (2, 32, True)
    early = results.make_record("acgan_tiny", run_dir, evaluation, os.path.basename(grid), upto=1)
    assert (early["epochs"], early["steps"], "--epochs=1 " in early["args"] + " ") == (1, 16, True)


def test_a_file_that_is_not_a_results_file_is_refused(tmp_path):
    from tfgan_cifar.lib.errors import UsageError
    (tmp_path / "r.json").write_text('{"rows": []}')
    with pytest.raises(UsageError, match="not a results file"):
        results.load(str(tmp_path / "r.json"))


def test_every_generated_block_in_the_docs_is_what_make_docs_writes():
    """README.md and docs/*.md hold generated blocks (the variant table, results tables); each must equal what
    `make docs` makes from its source now, so no table can drift from the code or the committed records."""
    from tfgan_cifar.tools import docs
    assert docs.stale(ROOT) == []
    blocks = [name for path in docs.documents(ROOT) for name in docs.render(path, ROOT)[1]]
    assert "variants" in blocks and "flags" in blocks and "docs/results/zoo.json" in blocks and "docs/results/evaluator.json" in blocks


def test_a_block_that_differs_is_found_and_rewritten(tmp_path):
    from tfgan_cifar import gans
    from tfgan_cifar.tools import docs
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# x\n<!-- variants -->\nold\n<!-- /variants -->\nend\n")
    assert docs.stale(str(tmp_path)) == [str(tmp_path / "README.md")]
    assert docs.update(str(tmp_path / "README.md"), str(tmp_path)) == ["variants"]
    assert (tmp_path / "README.md").read_text() == f"# x\n<!-- variants -->\n{gans.markdown_table()}\n<!-- /variants -->\nend\n"
    assert docs.stale(str(tmp_path)) == []


def test_update_rewrites_a_table_with_links_relative_to_the_markdown_file(tmp_path):
    record = dict(name="r1", model="dcgan", args="", steps=10, seconds=1.0, fid=2.0, inception_score=1.0, kid=0.1,
                  precision=0.5, recall=0.5, class_accuracy=None, grid="r1.png", n=100, reference="ref",
                  features="evaluator", real_floor={}, versions=dict(cpu="cpu"))
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "r1.png").write_bytes(b"a grid")  # add() hashes it
    results.add(str(tmp_path / "docs" / "results" / "x.json"), record)
    doc = tmp_path / "docs" / "page.md"
    doc.write_text("intro\n<!-- results: docs/results/x.json -->\nstale\n<!-- /results -->\nend\n")
    from tfgan_cifar.tools import docs
    assert docs.update(str(doc), root=str(tmp_path)) == ["docs/results/x.json"]
    text = doc.read_text()
    assert "stale" not in text and "| r1 | `dcgan` |" in text and "[png](results/r1.png)" in text
    assert text.startswith("intro\n<!-- results: docs/results/x.json -->\n| run |") and text.endswith("<!-- /results -->\nend\n")
    # A new, empty block before another block: only the empty one is filled, the text between them stays.
    doc.write_text("<!-- results: docs/results/x.json -->\n<!-- /results -->\nkept\n"
                   "<!-- results: docs/results/x.json -->\nold\n<!-- /results -->\n")
    assert docs.update(str(doc), root=str(tmp_path)) == ["docs/results/x.json"] * 2
    text = doc.read_text()
    assert text.count("| r1 | `dcgan` |") == 2 and "\n<!-- /results -->\nkept\n<!-- results: " in text
    assert "old" not in text


def test_a_lever_table_says_what_each_judge_says_of_every_row_against_its_baseline(tmp_path):
    from tfgan_cifar.lib.errors import UsageError
    record = lambda name, fid, swd, c2st: dict(
        name=name, model="acgan", args="", steps=10, seconds=1.0, fid=fid, inception_score=1.0, kid=0.1, precision=0.5,
        recall=0.5, class_accuracy=0.5, swd=swd, c2st=c2st, grid=f"{name}.png", n=100, reference="ref",
        features="evaluator", real_floor={}, versions=dict(cpu="cpu"))
    runs = [record("seed", 10.0, 20.0, 0.90), record("better", 9.0, 19.0, 0.80), record("split", 8.0, 25.0, 0.95),
            # 0.05 is further from chance (0.5) than the baseline's 0.90: worse, though lower
            record("below_chance", 9.0, 19.0, 0.05), record("old", 12.0, None, None), record("tie", 10.0, 19.0, 0.9),
            # FID by another training of the evaluator (the same rounded accuracy, another key): SWD and the
            # two-sample test need no evaluator and still compare; other sample counts compare on nothing.
            dict(record("retrained", 5.0, 19.0, 0.80), features_key="other"), dict(record("n1000", 5.0, 1.0, 0.5), n=1000)]
    for r in runs[:-2]:
        r["features_key"] = "first"
    (tmp_path / "levers.json").write_text(json.dumps(dict(runs=runs)))
    table = results.markdown_table(str(tmp_path / "levers.json"), baseline="seed").splitlines()
    assert table[0].endswith("| grid | judges vs seed |") and table[1].count("---") == 17
    verdicts = {line.split(" | ")[0][2:]: line.split(" | ")[-1][:-2] for line in table[2:10]}
    assert verdicts == {"seed": "(the baseline)", "better": "all three better",
                        "split": "FID better; SWD, two-sample worse", "below_chance": "FID, SWD better; two-sample worse", "old": "FID worse",
                        "tie": "FID, two-sample the same; SWD better",
                        "retrained": "SWD, two-sample better; FID not compared (measured differently)",
                        "n1000": "FID, SWD, two-sample not compared (measured differently)"}
    # A floor per protocol; the two evaluators that read alike are told apart by their keys.
    floors = [line.split(" | ")[0] for line in table[10:13]]
    assert floors == [f"| real test images (floor, protocol {i})" for i in (1, 2, 3)] and table[13] == ""
    assert "(1) N = 100 samples vs ref, evaluator features (key first): rows seed, better" in table[14]
    assert "(2) N = 100 samples vs ref, evaluator features (key other): rows retrained; (3) N = 1,000" in table[14]
    assert "judges vs" not in results.markdown_table(str(tmp_path / "levers.json"))
    with pytest.raises(UsageError, match="no record named nope"):
        results.markdown_table(str(tmp_path / "levers.json"), baseline="nope")
    # A docs block asks for it in its mark.
    (tmp_path / "docs").mkdir()
    doc = tmp_path / "docs" / "page.md"
    doc.write_text("<!-- results: levers.json baseline=seed -->\n<!-- /results -->\n")
    from tfgan_cifar.tools import docs
    assert docs.update(str(doc), root=str(tmp_path)) == ["levers.json"]
    assert "| split | `acgan` |" in doc.read_text() and "| FID better; SWD, two-sample worse |" in doc.read_text()


def test_with_the_baseline_trained_again_a_judge_calls_only_what_lies_outside_the_range_of_its_runs(tmp_path):
    record = lambda name, args, fid, swd, c2st: dict(
        name=name, model="acgan", args=args, steps=10, seconds=1.0, fid=fid, inception_score=1.0, kid=0.1,
        precision=0.5, recall=0.5, class_accuracy=0.5, swd=swd, c2st=c2st, grid=f"{name}.png", n=100,
        reference="ref", features="evaluator", real_floor={}, versions=dict(cpu="cpu"))
    base = "--dataset=cifar10 --precision=mixed_bfloat16"
    # The baseline's three runs span FID 50-60, SWD 8.0-8.5 and two-sample 0.95-0.99 (distance 0.45-0.49).
    runs = [record("default", base, 60.0, 8.4, 0.99), record("lever", base + " --ema=0.999", 49.0, 8.2, 0.999),
            record("default_seed-1", base + " --seed=1", 50.0, 8.0, 0.97),
            record("split", base + " --tac=1", 61.0, 7.9, 0.96),
            record("default_seed-2", "--seed=2 " + base, 55.0, 8.5, 0.95),
            # another model's run with --seed is not a repeat of the baseline
            dict(record("other_model", base + " --seed=1", 55.0, 8.1, 0.98), model="dcgan")]
    (tmp_path / "levers.json").write_text(json.dumps(dict(runs=runs)))
    table = results.markdown_table(str(tmp_path / "levers.json"), baseline="default").splitlines()
    verdicts = {line.split(" | ")[0][2:]: line.split(" | ")[-1][:-2] for line in table[2:8]}
    assert verdicts == {"default": "(the baseline)", "default_seed-1": "(the baseline, --seed=1)",
                        "default_seed-2": "(the baseline, --seed=2)",
                        "lever": "FID better; SWD within the baseline's 3 runs; two-sample worse",
                        "split": "FID worse; SWD better; two-sample within the baseline's 3 runs",
                        "other_model": "all three within the baseline's 3 runs"}
    assert results.judges_verdict(runs[1], runs[0]) == "FID, SWD better; two-sample worse"  # one run: no range


def test_floors_and_evaluator_files_have_their_own_tables(tmp_path):
    sets = {"real": dict(fid=0.0412, kid=-0.0001, recall=0.9, class_accuracy=0.8918, intra_class_diversity=0.9898,
                         swd=4.567, c2st=0.5012),
            "blurred": dict(fid=12.0, kid=0.25, recall=0.1, class_accuracy=0.5772, intra_class_diversity=0.6247,
                            swd=50.0, c2st=0.99),
            "dcgan": dict(fid=98.6, kid=1.79, recall=0.505, swd=14.11, c2st=0.9607)}  # unconditional: no classes
    floors = dict(n=10000, reference="cifar10 reference part", features="evaluator (airbench)", sets=sets,
                  date="2026-12-03", versions=dict(cpu="AMD EPYC"))
    (tmp_path / "floors.json").write_text(json.dumps(floors))
    table = results.markdown_table(str(tmp_path / "floors.json")).splitlines()
    assert table[0] == ("| images (10,000 each) | FID | KID | recall | class acc. | intra-class diversity | SWD | "
                        "two-sample acc. |")
    assert table[2:5] == ["| real | 0.04 | -0.0001 | 0.900 | 0.892 | 0.99 | 4.57 | 0.501 |",
                          "| blurred | 12.00 | 0.2500 | 0.100 | 0.577 | 0.62 | 50.00 | 0.990 |",
                          "| dcgan | 98.60 | 1.7900 | 0.505 | | | 14.11 | 0.961 |"]
    meta = dict(dataset="cifar10", architecture="airbench", test_accuracy=0.8918, test_accuracy_tta=0.9052, epochs=16,
                trained_on="40083 images", train_seconds=1294.4, precision="mixed_bfloat16", cpu="AMD EPYC")
    (tmp_path / "evaluator.json").write_text(json.dumps(meta))
    assert results.markdown_table(str(tmp_path / "evaluator.json")).splitlines()[-1] == (
        "| cifar10 | airbench | 89.18% | 90.52% | 16 | 40083 images | 1294 s | mixed_bfloat16 | AMD EPYC |")


def test_every_committed_record_has_its_grid_and_the_grid_is_the_one_it_was_made_with():
    folder = os.path.join(ROOT, "docs", "results")
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json") or "runs" not in json.load(open(os.path.join(folder, name))):
            continue
        for record in results.load(os.path.join(folder, name))["runs"]:
            if not record.get("grid"):
                continue
            path = os.path.join(folder, record["grid"])
            assert os.path.isfile(path), f"{name}: {record['name']}'s grid {record['grid']} is missing"
            assert "grid_sha256" in record, f"{name}: {record['name']} does not name its grid's SHA-256"
            assert results.file_sha256(path) == record["grid_sha256"], f"{name}: {record['grid']} is not its grid"

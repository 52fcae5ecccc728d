"""What happens when things go wrong: each case reproduces a failure a careful user hit (non-finite weights
saved and exported, a run folder reused or shared, destroyed data accepted, a hang, tracebacks) and checks
the guarantee that replaced it."""
import json
import os
import pickle
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import ROOT, error_lines, run_cli, run_forked, tiny_config
from test_evaluation import CountingExtractor
from tfgan_cifar.lib import data, savedmodel
from tfgan_cifar import train
from tfgan_cifar.lib.errors import Busy, DataError, TrainingDiverged, UsageError


def tree(path):
    """{relative path: bytes} of every file below path."""
    out = {}
    for d, _, files in os.walk(path):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                out[os.path.relpath(os.path.join(d, f), path)] = fh.read()
    return out


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """A finished tiny dcgan run with its export: (root, config)."""
    root = tmp_path_factory.mktemp("good")
    config = tiny_config("dcgan", fid_every=0, run_dir=str(root / "run"), export_dir=str(root / "models"),
                         ckpt_every=4)
    train.train(config, verbose=0)
    return root, config


def copy_of(good_run, tmp_path):
    import shutil
    root, _ = good_run
    shutil.copytree(root, tmp_path / "copy")
    return tmp_path / "copy"


@pytest.fixture(scope="module")
def refused(good_run, tmp_path_factory):
    """Command lines that must be refused with one line: {case: (result, folder)}."""
    folders = {case: tmp_path_factory.mktemp(case) for case in ("checkpoint", "model", "export_dir", "sample")}
    runs = {case: copy_of(good_run, folders[case]) for case in ("checkpoint", "model")}
    (folders["export_dir"] / "models").write_text("not a folder")
    os.makedirs(folders["sample"] / "grid.png")
    cases = {
        "checkpoint": ("export", [f"--run_dir={runs['checkpoint']}/run",
                                  f"--checkpoint={runs['checkpoint']}/run/checkpoints/ckpt-99"], ROOT),
        "model": ("train", ["--resume", f"--run_dir={runs['model']}/run", "--model=wgan"], ROOT),
        "export_dir": ("train", ["--dataset=shapes", "--examples=256", "--batch_size=16", "--fid_every=0", "--width=8",
                                 "--export_dir=models"], str(folders["export_dir"])),
        "sample": ("sample", ["--out=grid.png"], str(folders["sample"]))}
    results = [run_cli(command, *args, cwd=folder) for command, args, folder in cases.values()]
    return {case: (result, runs.get(case, folders[case])) for case, result in zip(cases, results)}


# ----------------------------------------------------------------------------- data lost or corrupted

@pytest.mark.parametrize("steps, ckpt_every", [(2, 500), (30, 0)])
def test_non_finite_weights_are_never_saved_or_exported(good_run, tmp_path, steps, ckpt_every):
    """--g_lr=inf: the update makes G's weights non-finite from finite losses and gradients. Before: exit 0 with a
    NaN checkpoint (2 steps), or the NaN guard exporting a NaN checkpoint over a good export (30 steps)."""
    root = copy_of(good_run, tmp_path)
    before = tree(root / "models" / "dcgan")
    config = tiny_config("dcgan", fid_every=0, run_dir=str(tmp_path / "bad"), export_dir=str(root / "models"),
                         steps_per_epoch=steps, ckpt_every=ckpt_every, nan_patience=5)
    config.g_lr = float("inf")  # the CLI refuses it now; the Python API is how such weights can still arise
    with pytest.raises(TrainingDiverged, match="previous export .*unchanged"):
        train.train(config, verbose=0)
    assert tree(root / "models" / "dcgan") == before
    ckpt_dir = tmp_path / "bad" / "checkpoints"
    assert not ckpt_dir.exists() or not [f for f in os.listdir(ckpt_dir) if f.startswith("ckpt-")]


def test_a_finite_but_exploded_run_does_not_replace_a_good_export(good_run, tmp_path):
    """--g_lr=1e30 --d_lr=1e30: the checkpoints saved during the streak are finite but ruined (D's weights near
    1e30, G grey). Before: exported over the trained model as 'the last good checkpoint'. Now no epoch of the
    run was judged good, so the export stays."""
    root = copy_of(good_run, tmp_path)
    before = tree(root / "models" / "dcgan")
    config = tiny_config("dcgan", run_dir=str(tmp_path / "exploded"), export_dir=str(root / "models"), g_lr=1e30,
                         d_lr=1e30, ckpt_every=2, nan_patience=3, fid_samples=100)
    with pytest.raises(TrainingDiverged, match="no epoch of this run was judged good, so the previous export .* "
                                               "is unchanged .*ckpt-"):
        train.train(config, verbose=0)
    assert tree(root / "models" / "dcgan") == before


def test_a_writer_killed_mid_write_leaves_nothing_after_the_next_write(tmp_path):
    """SIGKILL while `make sample` writes a PNG left a hidden temporary file no later run removed."""
    from tfgan_cifar.lib import images
    folder = tmp_path / "out"
    os.makedirs(folder)
    (tmp_path / "writer.py").write_text(
        "import os, time\nfrom tfgan_cifar.lib import images\n"
        "os.replace = lambda *a: time.sleep(600)  # killed between writing and renaming\n"
        f"images.atomic_write_bytes({str(folder / 'grid.png')!r}, b'x' * 2_000_000)\n")
    writer = run_forked(str(tmp_path / "writer.py"), ["writer.py"], background=True)
    deadline = time.time() + 120
    while not [n for n in os.listdir(folder) if n.startswith(".grid.png.tmp-")] and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    writer.send_signal(signal.SIGKILL)
    assert writer.result().returncode == -signal.SIGKILL
    [leftover] = os.listdir(folder)
    assert leftover.startswith(f".grid.png.tmp-{writer.pid}-")
    live = folder / f".grid.png.tmp-{os.getpid()}-other"  # a live writer's file is not touched
    live.write_bytes(b"y")
    images.atomic_write_bytes(str(folder / "grid.png"), b"png")
    assert sorted(os.listdir(folder)) == sorted(["grid.png", live.name])


def test_export_refuses_non_finite_weights_and_keeps_the_previous_one(good_run, tmp_path):
    root = copy_of(good_run, tmp_path)
    _, config = good_run
    before = tree(root / "models" / "dcgan")
    gan, checkpoint, _, _ = train.build(config, 10)
    checkpoint.restore(train.checkpoint_prefixes(str(root / "run"))[-1]).expect_partial()
    gan.generator.trainable_variables[3].assign(np.full(gan.generator.trainable_variables[3].shape, np.nan))
    with pytest.raises(TrainingDiverged, match="non-finite"):
        savedmodel.save_generator(gan, str(root / "models" / "dcgan"), {"format": savedmodel.FORMAT})
    assert tree(root / "models" / "dcgan") == before


def test_training_into_a_used_run_folder_is_refused_unless_overwrite(good_run, tmp_path):
    root = copy_of(good_run, tmp_path)
    before = tree(root / "run")
    again = tiny_config("dcgan", fid_every=0, run_dir=str(root / "run"), export_dir=str(root / "models"), width=16)
    with pytest.raises(UsageError, match="already holds a run .*--resume.*--overwrite"):
        train.train(again, verbose=0)
    assert tree(root / "run") == before
    again.overwrite = True
    train.train(again, verbose=0)
    assert json.load(open(root / "run" / "config.json"))["width"] == 16
    assert [r["epoch"] for r in map(json.loads, open(root / "run" / "metrics.jsonl"))] == [1]
    # Only the new run's checkpoints (16 steps, every 500: the epoch end), none of the old run's 4, 8, 12.
    assert sorted(os.listdir(root / "run" / "checkpoints")) == ["checkpoint", "ckpt-16.data-00000-of-00001",
                                                                 "ckpt-16.index"]


def test_a_second_training_in_the_same_run_folder_is_refused_with_the_holders_pid(tmp_path):
    from tfgan_cifar.lib.locking import FolderLock
    run_dir = tmp_path / "run"
    with FolderLock(str(run_dir / ".lock"), "test"):
        res = run_cli("train", "--dataset=shapes", "--examples=256", "--batch_size=16", "--width=8", "--fid_every=0",
                      f"--run_dir={run_dir}", f"--export_dir={tmp_path}/models")
    lines = error_lines(res.stderr)
    assert res.returncode == 1, res.stderr[-2000:]
    assert lines == [f"error: run directory {run_dir} is in use by process {os.getpid()}; wait for it to finish or "
                     f"use another folder"]
    assert os.listdir(run_dir) == [".lock"] and not (tmp_path / "models").exists()


def test_an_export_target_being_written_is_locked(good_run, tmp_path):
    from tfgan_cifar.lib.locking import FolderLock
    root = copy_of(good_run, tmp_path)
    _, config = good_run
    gan, _, _, _ = train.build(config, 10)
    with FolderLock(str(root / "models" / ".dcgan.lock"), "test"):
        with pytest.raises(Busy, match=f"export target .*dcgan is in use by process {os.getpid()}"):
            savedmodel.save_generator(gan, str(root / "models" / "dcgan"), {"format": savedmodel.FORMAT})


def test_interrupted_exports_leave_nothing_behind_after_the_next(good_run, tmp_path):
    root = copy_of(good_run, tmp_path)
    _, config = good_run
    for leftover in ("dcgan.tmp-99999", "dcgan.old-99998"):
        os.makedirs(root / "models" / leftover / "variables")
    gan, _, _, _ = train.build(config, 10)
    savedmodel.save_generator(gan, str(root / "models" / "dcgan"), {"format": savedmodel.FORMAT})
    assert sorted(os.listdir(root / "models")) == [".dcgan.lock", "dcgan"]


def write_cifar(folder, data_values, labels):
    """A cifar-10-batches-py folder whose every batch holds `data_values` and `labels`."""
    os.makedirs(folder, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump({b"data": data_values, b"labels": list(labels)}, f)


def test_float_cifar_pixels_are_scaled_with_a_warning_or_refused(tmp_path, caplog):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (4, 3072)).astype(np.uint8)
    write_cifar(tmp_path / "a" / "cifar-10-batches-py", pixels.astype(np.float64) / 255.0, [0, 1, 2, 3])
    images, _ = data.load_cifar10_python(str(tmp_path / "a"), "test")
    np.testing.assert_array_equal(images, pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # not all black
    assert "float64 in [0, 1], not uint8; scaled to 0..255" in caplog.text
    write_cifar(tmp_path / "b" / "cifar-10-batches-py", pixels.astype(np.float64) * 2.0, [0, 1, 2, 3])
    with pytest.raises(DataError, match="'data' must be uint8 .* got float64 in"):
        data.load_cifar10_python(str(tmp_path / "b"), "test")
    write_cifar(tmp_path / "c" / "cifar-10-batches-py", pixels[:, :3000], [0, 1, 2, 3])
    with pytest.raises(DataError, match="rows of 3,072 values"):
        data.load_cifar10_python(str(tmp_path / "c"), "test")


def test_labels_outside_the_class_range_are_refused(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py", np.zeros((3, 3072), np.uint8), [0, 12, -1])
    with pytest.raises(DataError, match=r"labels outside 0..9: -1, 12"):
        data.load("cifar10", "train", str(tmp_path))


def test_a_missing_cifar_batch_is_named(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py", np.zeros((2, 3072), np.uint8), [0, 1])
    os.remove(tmp_path / "cifar-10-batches-py" / "data_batch_3")
    with pytest.raises(DataError, match="incomplete: data_batch_3 missing"):
        data.load_cifar10_python(str(tmp_path), "train")


def test_evaluator_on_fewer_images_than_a_batch_fails_fast(tmp_path):
    """It used to spin at 99 % CPU forever: a repeated stream of passes with no full batch in them."""
    from PIL import Image
    for i in range(20):  # 10 per class: 9 train and 1 test image each
        os.makedirs(tmp_path / "imgs" / f"c{i % 2}", exist_ok=True)
        Image.new("RGB", (32, 32), (i * 12, 0, 0)).save(tmp_path / "imgs" / f"c{i % 2}" / f"{i:02d}.png")
    start = time.time()
    res = run_cli("train_evaluator", f"--dataset=folder:{tmp_path}/imgs", "--evaluator_epochs=1", f"--out_root={tmp_path}/ev")
    assert res.returncode == 2 and time.time() - start < 120, res.stderr[-2000:]
    from tfgan_cifar.lib import data
    learn_from = len(data.evaluator_part(data.load(f"folder:{tmp_path}/imgs", "train")))  # 18 minus the reference part
    assert error_lines(res.stderr) == [f"error: {learn_from} images make no full batch of 1024: use a smaller "
                                       f"--evaluator_batch_size or more images"]


# ----------------------------------------------------------------------------- one line, not a traceback

def test_a_truncated_config_json_is_one_line_on_export_and_resume(good_run, tmp_path):
    root = copy_of(good_run, tmp_path)
    config_path = root / "run" / "config.json"
    config_path.write_text(config_path.read_text()[:40])
    try:
        json.loads(config_path.read_text())
    except ValueError as e:
        reason = str(e)
    expected = (f"{config_path} is unreadable (truncated or not JSON: {reason}); the run cannot be resumed or "
                f"exported from it")
    for res in (run_cli("export", f"--run_dir={root}/run", f"--export_dir={tmp_path}/out", cwd=tmp_path),
                run_cli("train", "--resume", f"--run_dir={root}/run", cwd=tmp_path)):
        assert res.returncode == 2 and error_lines(res.stderr) == [f"error: {expected}"], res.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_a_missing_checkpoint_is_named_with_the_ones_there_are(refused):
    res, root = refused["checkpoint"]
    assert res.returncode == 2 and error_lines(res.stderr) == [
        f"error: --checkpoint '{root}/run/checkpoints/ckpt-99' does not exist (the run has: ckpt-8, ckpt-12, ckpt-16)"]


def test_a_garbled_checkpoint_index_falls_back_to_the_checkpoint_files(good_run, tmp_path, capsys):
    root = copy_of(good_run, tmp_path)
    (root / "run" / "checkpoints" / "checkpoint").write_bytes(b"\x00\xffgarbage{{{")
    resumed = tiny_config("dcgan", fid_every=0, run_dir=str(root / "run"), export_dir=str(root / "models"),
                          resume=True, epochs=2, ckpt_every=4)
    train.train(resumed, verbose=0)
    assert "checkpoint is unreadable" in capsys.readouterr().err
    assert [r["step"] for r in map(json.loads, open(root / "run" / "metrics.jsonl"))] == [16, 32]
    assert train.checkpoint_prefixes(str(root / "run"))[-1].endswith("ckpt-32")


def test_resume_with_another_model_is_refused(refused):
    res, root = refused["model"]
    assert res.returncode == 2 and error_lines(res.stderr) == [
        f"error: --resume: {root}/run is a dcgan run, not wgan; drop --model or give the --run_dir of a wgan run"]


def test_an_export_dir_that_is_a_file_is_refused_before_training(refused):
    res, folder = refused["export_dir"]
    assert res.returncode == 2 and error_lines(res.stderr) == [
        "error: --export_dir: 'models' is a file, not a folder; choose another --export_dir"]
    assert sorted(os.listdir(folder)) == ["models"]  # no runs/


def test_broken_cached_reference_statistics_are_recomputed(tmp_path, capsys):
    from tfgan_cifar.lib import features
    images = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3)).astype(np.uint8)
    extractor = CountingExtractor()
    stats, path = features.reference(extractor, images, "t", str(tmp_path))
    for damage, message in ((lambda: open(path, "wb").write(open(path, "rb").read()[:50]), "unreadable"),
                            (lambda: np.savez(path, features=np.zeros((3, 4)), logits=np.zeros((20, 2)),
                                              mu=np.zeros(4), sigma=np.zeros((4, 4))), "wrong shape")):
        damage()
        again, _ = features.reference(extractor, images, "t", str(tmp_path))
        assert message in capsys.readouterr().err
        np.testing.assert_array_equal(again["features"], stats["features"])
    assert extractor.calls == 3
    features.reference(extractor, images, "t", str(tmp_path))
    assert extractor.calls == 3  # intact again: read from the cache


def test_an_eval_reference_too_small_for_the_metrics_is_refused():
    from tfgan_cifar.evaluate import check_reference
    meta = dict(model="dcgan", num_classes=2)
    many = data.ImageSet(np.zeros((50, 8, 8, 3), np.uint8), np.zeros(50, np.int32), ("a", "b"))
    few = data.ImageSet(np.zeros((3, 8, 8, 3), np.uint8), np.zeros(3, np.int32), ("a", "b"))
    check_reference("folder:x", meta, many, many)
    with pytest.raises(UsageError, match="has 3 test images; FID and k-NN precision/recall need at least 10"):
        check_reference("folder:x", meta, many, few)
    with pytest.raises(UsageError, match="has 3 classes but dcgan was trained on 2"):
        check_reference("folder:x", meta, data.ImageSet(many.images, many.labels, ("a", "b", "c")), many)


def test_sample_bounds_n_by_memory_and_refuses_a_folder_as_out(monkeypatch, refused):
    from tfgan_cifar import sample
    monkeypatch.setattr(sample, "available_memory", lambda: 2**30)  # 1 GiB free
    sample.check_count(4096, 32, "a.png")
    with pytest.raises(UsageError, match="too many for a PNG grid"):
        sample.check_count(4097, 32, "a.png")
    sample.check_count(87381, 32, "a.npz")  # 87,381 x 6 KiB = 0.5 GiB
    with pytest.raises(UsageError, match="at most 87381 images of 32px"):
        sample.check_count(87382, 32, "a.npz")
    res, _ = refused["sample"]
    assert res.returncode == 2 and error_lines(res.stderr) == [
        "error: --out 'grid.png' is a folder; give a file name ending in .png or .npz"]


def test_a_full_output_location_for_sample_and_export_is_one_line(good_run, tmp_path):
    root = copy_of(good_run, tmp_path)
    for module, args in (("sample", [f"--model_dir={root}/models/dcgan", "--n=2000", f"--out={tmp_path}/s.npz"]),
                         ("export", [f"--run_dir={root}/run", f"--export_dir={tmp_path}/full"])):
        res = run_cli(module, *args, file_size_limit=20_000)
        lines = error_lines(res.stderr)
        assert res.returncode == 1 and len(lines) == 1 and "File too large" in lines[0], res.stderr[-2000:]
        assert "Traceback" not in res.stderr
    assert not (tmp_path / "full" / "dcgan").exists()  # no half-written export


def test_ctrl_c_says_where_training_stopped_and_how_to_resume(tmp_path):
    args = ["--dataset=shapes", "--examples=2048", "--batch_size=16", "--width=8", "--fid_every=0", "--epochs=50",
            "--ckpt_every=4", f"--run_dir={tmp_path}/run", f"--export_dir={tmp_path}/models"]
    proc = run_forked("tfgan_cifar.train", ["train", *args], background=True)
    index = tmp_path / "run" / "checkpoints" / "checkpoint"
    deadline = time.time() + 300
    while not index.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:  # its fault handler prints where its threads are
        proc.send_signal(signal.SIGABRT)
        pytest.fail(f"still running 120 s after Ctrl-C; its threads:\n{proc.result().stderr[-6000:]}")
    stderr = proc.result().stderr
    lines = error_lines(stderr)
    assert proc.returncode == 130, stderr[-2000:]
    # The step in progress finishes and is saved: nothing trained is lost.
    assert lines[0] == "stopping after this step (press Ctrl-C again to stop at once)", lines
    assert len(lines) == 2 and lines[1].startswith("interrupted at step "), lines
    step = int(lines[1].split()[3].rstrip(";"))
    saved = f"{tmp_path}/run/checkpoints/ckpt-{step}"
    assert f"the last checkpoint is {saved};" in lines[1]
    import tensorflow as tf
    assert tf.train.latest_checkpoint(f"{tmp_path}/run/checkpoints") == saved
    assert f"resume with: python -m tfgan_cifar.train --resume --run_dir={tmp_path}/run" in lines[1]
    assert "Traceback" not in stderr


def test_absurd_learning_rates_warn_and_non_finite_ones_are_refused(capsys):
    tiny_config("dcgan", g_lr=0.5)
    assert "--g_lr=0.5 is far above the usual range" in capsys.readouterr().err
    tiny_config("dcgan", g_lr=2e-4)
    assert capsys.readouterr().err == ""
    with pytest.raises(UsageError, match="--d_lr must be a finite number > 0, got inf"):
        tiny_config("dcgan", d_lr=float("inf"))

"""Crash safety: a SIGKILLed run resumes to the same weights as an uninterrupted one, an unreadable newest
checkpoint is skipped, and a full disk is one clear line that leaves the last good checkpoint intact."""
import json
import os
import signal
import time

import numpy as np

from conftest import error_lines, run_cli, run_forked, tiny_config
from tfgan_cifar import train

STEPS = 64  # 2 epochs x 32 steps
TINY = ["--model=dcgan", "--dataset=shapes", "--examples=512", "--batch_size=16", "--epochs=2", "--width=8",
        "--fid_every=0", "--deterministic", "--ckpt_every=4", "--log_every=4"]


def train_args(root):
    return TINY + [f"--run_dir={root}/run", f"--export_dir={root}/models"]


def final_variables(run_dir):
    """Every variable of the run's newest checkpoint, by name."""
    import tensorflow as tf
    prefix = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    return prefix, {name: tf.train.load_variable(prefix, name) for name, _ in tf.train.list_variables(prefix)}


def records(run_dir, name):
    return [json.loads(line) for line in open(os.path.join(run_dir, name))]


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    straight = run_cli("train", *train_args(tmp_path / "a"))
    assert straight.returncode == 0, straight.stderr

    proc = run_forked("tfgan_cifar.train", ["train", *train_args(tmp_path / "b")], background=True)
    index = tmp_path / "b" / "run" / "checkpoints" / "checkpoint"
    deadline = time.time() + 300
    while not index.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    assert proc.result().returncode == -signal.SIGKILL  # (its files removed)
    import tensorflow as tf
    killed_at = int(tf.train.latest_checkpoint(str(index.parent)).rsplit("-", 1)[1])
    assert 0 < killed_at < 32, killed_at  # killed mid-epoch 1, after at least one checkpoint

    resumed = run_cli("train", "--resume", f"--run_dir={tmp_path}/b/run", f"--export_dir={tmp_path}/b/models")
    assert resumed.returncode == 0, resumed.stderr
    assert f"at epoch 0, step {killed_at}" in resumed.stdout

    prefix_a, a = final_variables(tmp_path / "a" / "run")
    prefix_b, b = final_variables(tmp_path / "b" / "run")
    assert prefix_a.endswith(f"ckpt-{STEPS}") and prefix_b.endswith(f"ckpt-{STEPS}")
    assert a.keys() == b.keys()
    weights = [k for k in a if "_trainable_variables" in k]  # the networks' weights, saved via their optimizers
    assert len(weights) == 21 and any("rng" in k for k in a)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)  # bit-identical, slots and RNG included
    for run in ("a", "b"):
        run_dir = tmp_path / run / "run"
        assert [r["epoch"] for r in records(run_dir, "metrics.jsonl")] == [1, 2]  # one line per epoch, none lost
        assert [r["step"] for r in records(run_dir, "metrics.jsonl")] == [32, 64]
        assert [r["step"] for r in records(run_dir, "steps.jsonl")] == list(range(4, STEPS + 1, 4))


def test_resume_skips_an_unreadable_newest_checkpoint(tmp_path, capsys):
    config = tiny_config("dcgan", fid_every=0, run_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "m"),
                         ckpt_every=4)
    train.train(config, verbose=0)  # 16 steps: checkpoints 8, 12, 16 kept
    ckpt_dir = tmp_path / "run" / "checkpoints"
    data_file = next(p for p in ckpt_dir.iterdir() if p.name.startswith("ckpt-16.data"))
    data_file.write_bytes(data_file.read_bytes()[:100])  # truncated, as by a crash or a full disk
    gan, checkpoint, step, epoch = train.build(config, 10)
    assert train.restore(checkpoint, str(tmp_path / "run")).endswith("ckpt-12")
    assert int(step) == 12 and int(epoch) == 0
    assert "skipping unreadable checkpoint" in capsys.readouterr().err


def test_time_budget_stop_mid_epoch_resumes_within_the_epoch(tmp_path, monkeypatch):
    config = tiny_config("dcgan", fid_every=0, run_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "m"),
                         epochs=2, ckpt_every=0, time_budget=1e-9)  # stops after the first step
    train.train(config, verbose=0)
    [partial] = records(tmp_path / "run", "metrics.jsonl")
    assert partial["step"] == 1 and partial["partial"] is True
    resumed = tiny_config("dcgan", fid_every=0, run_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "m"),
                          epochs=2, resume=True)
    train.train(resumed, verbose=0)
    assert [(r["epoch"], r["step"], "partial" in r) for r in records(tmp_path / "run", "metrics.jsonl")] == [
        (1, 16, False), (2, 32, False)]


def test_full_disk_is_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    args = train_args(tmp_path) + ["--epochs=1"]
    first = run_cli("train", *args)
    assert first.returncode == 0, first.stderr
    ckpt_dir = tmp_path / "run" / "checkpoints"
    before = (ckpt_dir / "checkpoint").read_text()
    export_before = sorted(os.listdir(tmp_path / "models" / "dcgan"))

    full = run_cli("train", *args[:-1], "--epochs=2", "--resume", file_size_limit=600_000)  # a checkpoint: ~890 kB
    lines = error_lines(full.stderr)
    assert full.returncode == 1, full.stderr
    assert len(lines) == 1 and "File too large" in lines[0] and "--resume" in lines[0], lines
    assert "Traceback" not in full.stderr
    assert (ckpt_dir / "checkpoint").read_text() == before  # the index still names the last good checkpoint
    assert sorted(os.listdir(tmp_path / "models" / "dcgan")) == export_before

    again = run_cli("train", *args[:-1], "--epochs=2", "--resume")  # space is back: the run completes
    assert again.returncode == 0, again.stderr
    assert "at epoch 1, step 32" in again.stdout
    assert [r["epoch"] for r in records(tmp_path / "run", "metrics.jsonl")] == [1, 2]

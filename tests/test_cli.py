"""Bad input at the command line: one line on stderr, exit code 2, no traceback, nothing written."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT, error_lines, run_cli

pytestmark = pytest.mark.xdist_group("cli")  # one test worker for all: its module fixture is built once

CASES = [
    ("train", ["--model=nope"], "choose one of"),
    ("train", ["--dataset=mnist"], "unknown dataset"),
    ("train", ["--image_size=48"], "--image_size"),
    ("train", ["--batch_size=0"], "--batch_size"),
    ("train", ["--epochs=0"], "--epochs"),
    ("train", ["--classes=x"], "--classes"),
    ("train", ["--classes=11"], "out of range"),
    ("train", ["--g_lr=-1"], "--g_lr"),
    ("train", ["--beta1=1.5"], "--beta1"),
    ("train", ["--clip_value=0.01"], "does not apply to dcgan; it applies to: wgan"),
    ("train", ["--model=wgan_gp", "--norm=batch"], "choose one of: layer, instance, none"),
    ("train", ["--model=sagan", "--loss=l2"], "--loss=l2"),
    ("train", ["--model=mlp", "--norm=layer"], "--norm does not apply to mlp"),
    ("train", ["--model=wgan_gp", "--simultaneous"], "--simultaneous does not apply to wgan_gp; it applies to: dcgan, mlp"),
    ("train", ["--norm=instance"], "--norm=instance is not valid for dcgan; choose one of: batch, spectral, none"),
    ("train", ["--epochs=abc"], "epochs"),
    ("train", ["--no_such_flag=1"], "no_such_flag"),
    ("train", ["--dataset=folder:/does/not/exist"], "does not exist"),
    ("train", ["--resume", "--run_dir=/does/not/exist"], "--resume"),
    ("train", ["extra_positional"], "positional"),
    ("train", ["--features=inception", "--inception_path=/does/not/exist"], "--features=evaluator"),
    ("train", ["--features=vgg"], "flag --features=vgg: value should be one of <evaluator|inception>"),
    ("evaluate", ["--features=vgg"], "flag --features=vgg: value should be one of <evaluator|inception>"),
    ("train", ["--fid_samples=10"], "--fid_samples"),
    ("evaluate", ["--n=0"], "--n must be"),
    ("evaluate", ["--model_dir=/does/not/exist"], "no SavedModel"),
    ("train_evaluator", ["--evaluator_epochs=-1"], "--evaluator_epochs"),
    ("bench_quality", ["--models=nope"], "unknown model"),
    ("train", ["--steps_per_epoch=-1"], "--steps_per_epoch"),
    ("train", ["--nan_patience=0"], "--nan_patience"),
    ("train", ["--time_budget=-5"], "--time_budget"),
    ("train", ["--lr_decay=cosine"], "lr_decay"),
    ("train", ["--lr_decay=linear", "--lr_decay_start=1"], "--lr_decay_start must be in [0, 1), got 1.0"),
    ("train", ["--lr_decay=none", "--lr_decay_start=0.5"], "--lr_decay_start needs --lr_decay=linear"),
    ("train", ["--lr_decay=linear", "--time_budget=60", "--strategy=multiworker"], "--lr_decay with --time_budget"),
    ("train", ["--ckpt_every=-1"], "--ckpt_every"),
    ("train", ["--model=wgan", "--beta1=0.5"], "--beta1 does not apply to wgan"),
    ("sample", ["--n=0"], "--n"),
    ("sample", ["--images_per_call=0"], "--images_per_call"),
    ("bench", ["--steps=1"], "--steps"),
    ("sample", ["--model_dir=/does/not/exist"], "no SavedModel"),
    ("sample", ["--out=grid.gif"], "--out"),
    ("export", ["--run_dir=/does/not/exist"], "--run_dir"),
    ("train", ["--ema=1.5"], "--ema"),
    ("train", ["--diffaugment=color,blur"], "unknown policy blur"),
    ("train", ["--precision=float8"], "precision"),
    ("train", ["--strategy=multiworker"], "TF_CONFIG"),
    ("train", ["--strategy=tpu"], "no TPU found"),
    ("train", ["--preset=nope"], "not a preset of dcgan"),
    ("train", ["--model=sketch2img", "--sketches=both"], "--sketches=both"),
    ("train", ["--model=sketch2img", "--sketch_dir=/tmp"], "--dataset=folder:PATH"),
    ("train", ["--model=dcgan", "--edge_threshold=0.3"], "does not apply to dcgan; it applies to: sketch2img"),
    ("sweep", ["--grid=learning_rate=1,2"], "unknown or fixed key"),
    ("sweep", ["--grid=n_critic=x"], "not a valid int"),
    ("tradeoff", ["--files=a.json", "--out=a.png", "--goal=0.9,1.2"], "--goal takes two fractions"),
    ("tradeoff", ["--files=a.json", "--out=a.png"], "cannot read results file a.json"),
]


def snapshot(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


@pytest.fixture(scope="module")
def bad_command_lines(tmp_path_factory):
    """Every case run once, each in an empty folder of its own, with the files it left behind."""
    folders = [tmp_path_factory.mktemp("case") for _ in CASES]
    results = [run_cli(module, *args, cwd=folder) for (module, args, _), folder in zip(CASES, folders)]
    return {(module, tuple(args)): (result, snapshot(folder))
            for (module, args, _), folder, result in zip(CASES, folders, results)}


@pytest.mark.parametrize("module,args,needle", CASES, ids=[f"{m}:{' '.join(a)}" for m, a, _ in CASES])
def test_bad_command_lines(bad_command_lines, module, args, needle):
    res, files = bad_command_lines[(module, tuple(args))]
    lines = error_lines(res.stderr)
    assert res.returncode == 2, res.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert files == []  # no runs/, models/ or any other file


def _fresh(*args, **env_changes):
    """`python -m tfgan_cifar ARGS` in an interpreter of its own (run_cli forks its commands from one that has
    imported TensorFlow)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-m", "tfgan_cifar", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)


def test_a_fresh_interpreter_starts_quietly_unless_asked(monkeypatch):
    """TensorFlow 2.18+ prints its start-up lines regardless of TF_CPP_MIN_LOG_LEVEL; the commands drop them: a
    bad command line started afresh is exit 2 and its one line, nothing else -- unless the user sets
    TF_CPP_MIN_LOG_LEVEL or passes --verbose."""
    from tfgan_cifar.lib import quiet as start_up
    quiet = _fresh("train", "--model=nope")
    assert quiet.returncode == 2
    variants = ", ".join(sorted(__import__("tfgan_cifar.gans").gans.VARIANTS))
    assert quiet.stderr == f"error: unknown model 'nope'; choose one of: {variants}\n"
    loud = _fresh("train", "--model=nope", TF_CPP_MIN_LOG_LEVEL="0")
    assert loud.returncode == 2 and "error: unknown model 'nope'" in loud.stderr
    assert loud.stderr.count("\n") > 1  # TensorFlow's own lines are back (their text varies by machine)
    # Asked for either way, the filter stays off (what `loud` showed for the variable), and every command takes
    # --verbose.
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    for argv, filtered in ((["train", "--model=nope"], True), (["train", "--verbose"], False)):
        monkeypatch.setattr(sys, "argv", argv)
        assert start_up.wanted() is filtered, argv
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert start_up.wanted() is False
    verbose = run_cli("train", "--model=nope", "--verbose")
    assert verbose.returncode == 2 and error_lines(verbose.stderr) == [quiet.stderr.strip()]


def test_the_start_up_filter_drops_only_start_up_lines():
    from tfgan_cifar.lib.quiet import NOISE
    noise = [b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
             b"I0000 00:00:1795715045.472104    8807 port.cc:153] oneDNN custom operations are on.",
             b"I0000 00:00:1795715045.472542    8807 cudart_stub.cc:31] Could not find cuda drivers on your machine",
             b"E0000 00:00:1795715048.671310    8807 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
             b"E0000 00:00:1795713465.548944    2388 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT",
             b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with "
             b"the appropriate compiler flags."]
    kept = [b"error: --n must be > 0, got 0", b"warning: --g_lr=0.5 is far above the usual range",
            b"W0000 00:00:1795715048.671310    8807 op_kernel.cc:1840] OP_REQUIRES failed: out of memory",
            b"Traceback (most recent call last):", b"E0000 00:00:1.2  1 save_restore.cc:10] checkpoint write failed"]
    assert [bool(NOISE.match(line)) for line in noise] == [True] * len(noise)
    assert [bool(NOISE.match(line)) for line in kept] == [False] * len(kept)

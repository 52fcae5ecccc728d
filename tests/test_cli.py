"""Bad input at the command line: one line on stderr, exit code 2, no traceback, nothing written."""
import os

import pytest

from conftest import error_lines, run_cli

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
    ("train", ["--model=mlp", "--width=32"], "--width does not apply to mlp"),
    ("train", ["--model=wgan_gp", "--simultaneous"], "--simultaneous does not apply to wgan_gp; it applies to: dcgan, mlp"),
    ("train", ["--norm=instance"], "--norm=instance is not valid for dcgan; choose one of: batch, spectral, none"),
    ("train", ["--epochs=abc"], "epochs"),
    ("train", ["--no_such_flag=1"], "no_such_flag"),
    ("train", ["--dataset=folder:/does/not/exist"], "does not exist"),
    ("train", ["--resume", "--run_dir=/does/not/exist"], "--resume"),
    ("train", ["extra_positional"], "positional"),
    ("train", ["--features=inception", "--inception_path=/does/not/exist"], "--features=evaluator"),
    ("train", ["--features=vgg"], "--features must be"),
    ("train", ["--fid_samples=10"], "--fid_samples"),
    ("evaluate", ["--n=0"], "--n must be"),
    ("evaluate", ["--model_dir=/does/not/exist"], "no SavedModel"),
    ("evaluator", ["--epochs=0"], "--epochs"),
    ("bench_quality", ["--model=nope"], "unknown model"),
    ("train", ["--steps_per_epoch=-1"], "--steps_per_epoch"),
    ("train", ["--nan_patience=0"], "--nan_patience"),
    ("train", ["--time_budget=-5"], "--time_budget"),
    ("train", ["--lr_decay=cosine"], "lr_decay"),
    ("train", ["--lr_decay=linear", "--lr_decay_start=1"], "--lr_decay_start must be in [0, 1), got 1.0"),
    ("train", ["--lr_decay_start=0.5"], "--lr_decay_start needs --lr_decay=linear"),
    ("train", ["--lr_decay=linear", "--time_budget=60", "--strategy=multiworker"], "--lr_decay with --time_budget"),
    ("train", ["--ckpt_every=-1"], "--ckpt_every"),
    ("train", ["--model=wgan", "--beta1=0.5"], "--beta1 does not apply to wgan"),
    ("sample", ["--n=0"], "--n"),
    ("sample", ["--batch_size=0"], "--batch_size"),
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
]


def snapshot(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


@pytest.mark.parametrize("module,args,needle", CASES, ids=[f"{m}:{' '.join(a)}" for m, a, _ in CASES])
def test_bad_command_lines(in_tmp, module, args, needle):
    before = snapshot(in_tmp)
    res = run_cli(module, *args, cwd=in_tmp)
    lines = error_lines(res.stderr)
    assert res.returncode == 2, res.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert snapshot(in_tmp) == before  # no runs/, models/ or any other file

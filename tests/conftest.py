import contextlib
import os
import subprocess
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _float32_for_auto_precision():
    """Where this CPU leaves --precision=auto to timed steps (AVX512-BF16 without AMX), tests and the commands
    they start resolve it to float32 without timing: a private cache holds the verdict 'bfloat16 is no faster',
    and the user's cache is not touched. (The choice itself is tested with faked probes in test_precision.py.)"""
    import json
    import tempfile

    from tfgan_cifar.lib import precision
    folder = tempfile.mkdtemp(prefix="tfgan_cifar_test_cache_")
    os.environ["TFGAN_CIFAR_CACHE"] = folder
    precision.CACHE = os.path.join(folder, "precision.json")
    with open(precision.CACHE, "w") as f:
        json.dump({precision.cache_key(*precision.cpu_features()): 1.0}, f)


_float32_for_auto_precision()
SHARED_CIFAR = os.path.join(ROOT, "..", "shared", "cifar10")


def tiny_config(model="dcgan", **overrides):
    """A validated RunConfig small enough for a CPU test: 16x16-wide networks, 32x32 images, 200 samples per
    quality check (2,560 by default)."""
    from tfgan_cifar import gans
    settings = dict(examples=256, batch_size=16, epochs=1, log_every=2, precision="float32", fid_samples=200)
    if "width" in gans.VARIANTS[model].PRESET:
        settings["width"] = 8
    return gans.make_config(model, **dict(settings, **overrides))


def run_cli(command, *args, cwd=None):
    """Run `python -m tfgan_cifar COMMAND args` (what `tfgan-cifar COMMAND` runs, for commands and tools alike)
    and return the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "tfgan_cifar", command, *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=600)


CLI_BATCH = """
import contextlib, io, json, os, runpy, sys, traceback, warnings
import tensorflow  # noqa: F401 (its flags, like absl's, are not a command's)
from absl import app, flags, logging  # noqa: F401
from tfgan_cifar.__main__ import module_of
app.define_help_flags()
# runpy runs a module as __main__ afresh even when an earlier command imported it; it warns, but that is the point
warnings.filterwarnings("ignore", message=".*found in sys.modules after import of package")
builtin, results = set(flags.FLAGS), []
for command, args, folder in json.load(sys.stdin):
    for flag in set(flags.FLAGS) - builtin:  # each command defines its flags afresh, as in its own process
        delattr(flags.FLAGS, flag)
    os.chdir(folder)
    sys.argv, out, err, code = [f"tfgan-cifar {command}", *args], io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module(module_of(command), run_name="__main__", alter_sys=True)
        except SystemExit as e:
            code = 0 if e.code is None else e.code
        except BaseException:
            traceback.print_exc()
            code = 1  # as an uncaught exception ends a process
    results.append(dict(returncode=code, stdout=out.getvalue(), stderr=err.getvalue(),
                        flags=sorted(set(flags.FLAGS) - builtin)))
print(json.dumps(results))
"""


def run_cli_batch(cases):
    """[(command, args, folder)] run one after another in ONE Python process, each as `tfgan-cifar COMMAND args`
    would run it (its module as __main__, its flags alone, in `folder`): [{returncode, stdout, stderr, flags (the
    ones it defined)}]. For several command lines in one test, where a process each would spend most of its time
    importing TensorFlow; run_cli runs a real process (native log lines, signals, a clean interpreter)."""
    import json
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-c", CLI_BATCH], input=json.dumps(cases), capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.splitlines()[-1])


def error_lines(stderr):
    """stderr without TensorFlow's native start-up chatter (which no Python setting silences)."""
    noise = ("I0000", "W0000", "E0000", "WARNING: All log messages", "To enable the following instructions")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(noise)]


@contextlib.contextmanager
def few_two_sample_steps():
    """The two-sample critic trains two_sample.MIN_STEPS batches at least, however few the images, so that its
    figure has power on small sets; where a test does not read that figure (it scores with n = 100 to 300 only
    to exercise a command) 10 batches do, and 140 fewer were about 7 s of every evaluation. Commands run as
    processes keep the real number."""
    from tfgan_cifar.lib import two_sample
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(two_sample, "MIN_STEPS", 10)
        yield


@pytest.fixture(autouse=True)
def _few_two_sample_steps_unless_marked(request):
    """few_two_sample_steps() around every test but those marked two_sample_power, which check the figure (a
    module fixture that evaluates takes it itself: it is built before this one)."""
    if request.node.get_closest_marker("two_sample_power"):
        yield
    else:
        with few_two_sample_steps():
            yield


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def evaluator_root(tmp_path_factory):
    """A directory holding models/evaluator/shapes_32: a shapes evaluator trained once per test session. The
    test workers share the training (the first to take the lock trains it; the others wait) and each gets a
    folder of its own with a copy, since tests run commands in it."""
    import fcntl
    import shutil

    from tfgan_cifar.lib import evaluator
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the folder above every worker's own
    trained = shared / "shapes_evaluator"
    with open(shared / "shapes_evaluator.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (trained / "done").exists():
            evaluator.train("shapes", image_size=32, epochs=2, examples=3000, verbose=0,
                            out_dir=str(trained / "model"))
            (trained / "done").touch()
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(trained / "model", evaluator.evaluator_dir("shapes", 32, str(root / "models" / "evaluator")))
    return root

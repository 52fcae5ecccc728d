import contextlib
import os
import subprocess
import sys
import time

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_configure(config):
    """Where this CPU leaves --precision=auto to timed steps (AVX512-BF16 without AMX), tests and the commands
    they start resolve it to float32 without timing: a private cache holds the verdict 'bfloat16 is no faster',
    and the user's cache is not touched. (The choice itself is tested with faked probes in test_precision.py.)
    Not in pytest-xdist's controller, which runs no test: the cache key imports TensorFlow, seconds before any
    worker could start."""
    if getattr(config, "workerinput", None) is None and getattr(config.option, "numprocesses", None):
        return
    import json
    import tempfile

    from tfgan_cifar.lib import precision
    folder = tempfile.mkdtemp(prefix="tfgan_cifar_test_cache_")
    os.environ["TFGAN_CIFAR_CACHE"] = folder
    precision.CACHE = os.path.join(folder, "precision.json")
    with open(precision.CACHE, "w") as f:
        json.dump({precision.cache_key(*precision.cpu_features()): 1.0}, f)


SHARED_CIFAR = os.path.join(ROOT, "..", "shared", "cifar10")


def tiny_config(model="dcgan", **overrides):
    """A validated RunConfig small enough for a CPU test: 16x16-wide networks, 32x32 images, 200 samples per
    quality check (2,560 by default)."""
    from tfgan_cifar import gans
    settings = dict(examples=256, batch_size=16, epochs=1, log_every=2, precision="float32", fid_samples=200)
    if "width" in gans.VARIANTS[model].PRESET:
        settings["width"] = 8
    return gans.make_config(model, **dict(settings, **overrides))


# Every command a test runs goes to a process of its own, forked from a server that has imported TensorFlow and
# Keras (about 3.5 s of a fresh interpreter's start, more than most test commands take) but run no op yet, so no
# thread pool is forked (and devices can still be configured). The child runs the command as `python -m` or
# `python script.py` would: its module or script as __main__ (its flags defined afresh), nothing of the project
# imported before, fds 1 and 2 in files (native lines too), the test's environment and folder, stdin /dev/null,
# Python's own SIGINT handler (Ctrl-C is KeyboardInterrupt, as in an interpreter started from a shell), the
# fault handler on (SIGABRT prints its threads), an exit as the interpreter's (threads joined, atexit) less its
# teardown, SIGALRM at 600 s. A command in the background runs under a waiter that writes its pid first and its
# exit code (negative: the signal that ended it) last, and the server takes the next request at once.
CLI_SERVER = """
import atexit, faulthandler, json, os, resource, runpy, signal, sys, threading, traceback
import keras, tensorflow  # noqa: F401
from absl import app, flags
app.define_help_flags()
builtin = set(flags.FLAGS)


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def run(target, argv, folder, env, out, file_size_limit, two_sample_min_steps):
    signal.alarm(600)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, part in ((1, "stdout"), (2, "stderr")):
        os.dup2(os.open(f"{out}.{part}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    faulthandler.enable()
    if file_size_limit:  # writes past it fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
    os.environ.clear()
    os.environ.update(env)
    os.chdir(folder)
    sys.argv = argv
    if two_sample_min_steps:  # as few_two_sample_steps() does in the test's process
        from tfgan_cifar.lib import two_sample
        two_sample.MIN_STEPS = two_sample_min_steps
    code = 0
    try:
        if target.endswith(".py"):
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
    except SystemExit as e:  # read as the interpreter reads it
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    with open(f"{out}.flags", "w") as f:  # closed here: os._exit below flushes nothing
        json.dump(sorted(set(flags.FLAGS) - builtin), f)
    # A normal exit without tearing down the interpreter (a second with TensorFlow loaded, in every process)
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


for line in sys.stdin:
    *request, background = json.loads(line)
    while True:  # waiters of background commands that have ended
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    pid = os.fork()
    if pid == 0 and background:  # the waiter
        pid = os.fork()
        if pid:
            write(request[4] + ".pid", str(pid))
            write(request[4] + ".code", str(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])))
            os._exit(0)
    if pid == 0:
        run(*request)
    if background:
        print(pid, flush=True)
    else:
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""
_cli_server = None


def run_cli(command, *args, cwd=None, file_size_limit=None, few_two_sample_steps=False):
    """Run `python -m tfgan_cifar COMMAND args` (what `tfgan-cifar COMMAND` runs, for commands and tools alike) in
    a process of its own (run_forked)."""
    from tfgan_cifar.__main__ import module_of
    return run_forked(module_of(command), [f"tfgan-cifar {command}", *args], cwd, file_size_limit,
                      few_two_sample_steps=few_two_sample_steps)


def run_forked(target, argv, cwd=None, file_size_limit=None, env=None, background=False, few_two_sample_steps=False):
    """Run module or script `target` as __main__ with `argv` in a process of its own, forked from this worker's
    CLI_SERVER, with `env` added to this process's environment; return a CompletedProcess with `.flags` (the
    absl flags it defined), or at once, with `background`, a Forked to signal and wait for. With
    `few_two_sample_steps`, the command's two-sample critics train FEW_TWO_SAMPLE_STEPS batches (its only
    project module imported before the command). Start-up lines or a clean interpreter need a real one."""
    import json
    import tempfile
    global _cli_server
    base = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if _cli_server is None or _cli_server.poll() is not None:
        _cli_server = subprocess.Popen([sys.executable, "-c", CLI_SERVER], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=base)
    out = os.path.join(tempfile.mkdtemp(prefix="forked_"), "out")
    request = [target, argv, str(cwd or ROOT), dict(base, **(env or {})), out, file_size_limit,
               FEW_TWO_SAMPLE_STEPS if few_two_sample_steps else None, background]
    _cli_server.stdin.write(json.dumps(request) + "\n")
    _cli_server.stdin.flush()
    answer = int(_cli_server.stdout.readline() or "-1")  # the exit code (or the waiter's pid); -1: the server died
    forked = Forked(argv, out)
    if background:
        return forked
    forked.returncode = answer
    return forked.result()


class Forked:
    """A command run_forked in the background: `pid`, `poll()`, `send_signal()`, `wait()`, and `result()`, which
    also removes its temporary files (call it last)."""

    def __init__(self, argv, out):
        self.argv, self.out, self.returncode, self._pid = argv, out, None, None

    def _read_pid(self):
        if self._pid is None and os.path.exists(self.out + ".pid"):
            self._pid = int(open(self.out + ".pid").read())
        return self._pid

    @property
    def pid(self):
        deadline = time.time() + 60
        while self._read_pid() is None:
            if time.time() > deadline:
                raise TimeoutError(f"{self.argv[0]} did not start within 60 s")
            time.sleep(0.002)
        return self._pid

    def poll(self):
        if self.returncode is None and os.path.exists(self.out + ".code"):
            self.returncode = int(open(self.out + ".code").read())
        return self.returncode

    def send_signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=600):
        deadline = time.time() + timeout
        while self.poll() is None:
            if time.time() > deadline:
                raise subprocess.TimeoutExpired(self.argv, timeout)
            time.sleep(0.01)
        return self.returncode

    def result(self):
        """The ended command's CompletedProcess with `.flags` (its temporary files removed)."""
        import json
        import shutil
        self.wait()
        self._read_pid()  # kept for after the files are gone
        read = lambda part: open(f"{self.out}.{part}").read() if os.path.exists(f"{self.out}.{part}") else ""
        result = subprocess.CompletedProcess(self.argv, self.returncode, read("stdout"), read("stderr"))
        result.flags = json.loads(read("flags") or "[]")
        shutil.rmtree(os.path.dirname(self.out), ignore_errors=True)
        return result


def error_lines(stderr):
    """stderr without TensorFlow's native start-up chatter (which no Python setting silences)."""
    noise = ("I0000", "W0000", "E0000", "WARNING: All log messages", "To enable the following instructions")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(noise)]


FEW_TWO_SAMPLE_STEPS = 10


@contextlib.contextmanager
def few_two_sample_steps():
    """The two-sample critic trains two_sample.MIN_STEPS batches at least, however few the images, so that its
    figure has power on small sets; where a test does not read that figure (it scores with n = 100 to 300 only
    to exercise a command) FEW_TWO_SAMPLE_STEPS do, and 140 fewer were about 7 s of every evaluation. Commands run
    as processes keep the real number unless run with few_two_sample_steps=True."""
    from tfgan_cifar.lib import two_sample
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(two_sample, "MIN_STEPS", FEW_TWO_SAMPLE_STEPS)
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
    """A directory holding models/evaluator/shapes_32: a shapes evaluator trained once per test session, at half
    the small CNN's widths (test accuracy 0.99 against 0.999, in a third of the time: what the tests read of it
    -- real images first, damage and untrained generators after -- does not depend on the last per cent). The
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
                            out_dir=str(trained / "model"), widths=(16, 32, 64))
            (trained / "done").touch()
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(trained / "model", evaluator.evaluator_dir("shapes", 32, str(root / "models" / "evaluator")))
    return root


EXPORTS = "exports"  # the xdist_group of the tests that take the `exports` fixture: one worker builds it, once


@pytest.fixture(scope="session")
def exports(evaluator_root, tmp_path_factory):
    """A project folder trained once for the tests of xdist_group EXPORTS, which read it (and copy what they
    change): runs/<model>/1 and models/<model> of a tiny dcgan (3 epochs, FID per epoch, the best exported),
    acgan (one epoch of 16 steps on 512 images, so that the reference part holds the 2 x 4 images per class
    the intra-class diversity needs; FID per epoch) and mlp (no quality monitor), and `make eval` of the acgan
    export, n = 200, run as a command (two-sample critics of few steps): (root, its CompletedProcess)."""
    import shutil

    from tfgan_cifar import train
    root = tmp_path_factory.mktemp("exports")
    shutil.copytree(evaluator_root / "models", root / "models")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with few_two_sample_steps():
            for model, settings in (("dcgan", dict(epochs=3)), ("acgan", dict(examples=512, steps_per_epoch=16)),
                                    ("mlp", dict(fid_every=0))):
                train.train(tiny_config(model, run_dir=f"runs/{model}/1", export_dir="models", **settings), verbose=0)
    finally:
        os.chdir(cwd)
    evaluation = run_cli("evaluate", "--model_dir=models/acgan", "--n=200", "--data_dir=data", cwd=root,
                         few_two_sample_steps=True)
    return root, evaluation

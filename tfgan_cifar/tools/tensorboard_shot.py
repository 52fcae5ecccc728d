"""A picture of a run's TensorBoard: its scalar charts as TensorBoard draws them, taken in headless Chromium, for
a page or a report where nobody will start TensorBoard.

    python -m tfgan_cifar.tools.tensorboard_shot --run_dir=runs/dcgan/X --out=docs/results/tensorboard_dcgan.png \
        [--tags='^(d_loss|g_loss_ema|epoch_fid)$']

TensorBoard opens on its Time Series dashboard, whose charts need WebGL: in Chromium without a GPU they come out
as empty axes. Its Scalars dashboard draws the same series without WebGL, so that is the one taken.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from absl import flags

from tfgan_cifar.lib.errors import UsageError

# Each step's losses and their moving averages (run "steps"), and the monitor's figures per epoch (run "train").
DEFAULT_TAGS = "^(d_loss|g_loss|d_loss_ema|g_loss_ema|epoch_fid|epoch_swd|epoch_recall|epoch_intra_class_diversity)$"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shoot(logdir, out, tags=DEFAULT_TAGS, width=1400, height=1300, timeout=120):
    """Serve `logdir` with TensorBoard on a free local port and save its Scalars dashboard, the charts matching
    the regex `tags` first, as the PNG `out` (width x height, quantized to 256 colours)."""
    from PIL import Image
    if not os.path.isdir(logdir):
        raise UsageError(f"no TensorBoard logs in {logdir!r}; give --run_dir a run folder (it has tensorboard/)")
    browser = next(filter(None, map(shutil.which, BROWSERS)), None)
    if browser is None:
        raise UsageError("no Chromium to draw the page with; install it (Debian: apt-get install chromium)")
    port = free_port()
    board = subprocess.Popen([sys.executable, "-m", "tensorboard.main", f"--logdir={logdir}", f"--port={port}",
                              "--host=127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + timeout
        while True:  # up once it lists the runs
            try:
                if urllib.request.urlopen(f"{base}/data/runs", timeout=2).read() not in (b"[]", b""):
                    break
            except OSError:
                pass
            if board.poll() is not None or time.time() > deadline:
                raise UsageError(f"TensorBoard did not come up on {logdir!r} within {timeout} s")
            time.sleep(0.5)
        url = f"{base}/#scalars&_smoothingWeight=0&tagFilter={urllib.parse.quote(tags)}"
        with tempfile.TemporaryDirectory() as tmp:
            shot = os.path.join(tmp, "shot.png")
            subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
                            f"--user-data-dir={tmp}", f"--window-size={width},{height}",
                            "--virtual-time-budget=25000", f"--screenshot={shot}", url],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout, check=True)
            image = Image.open(shot).convert("RGB").quantize(256)
    finally:
        board.terminate()
        board.wait()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    image.save(out, optimize=True)
    return out


def main(argv):
    F = flags.FLAGS
    if not F.run_dir:
        raise UsageError("--run_dir is required: the run folder whose TensorBoard to draw")
    out = shoot(os.path.join(F.run_dir, "tensorboard"), F.out, F.tags, F.window_width, F.window_height)
    print(f"wrote {out} ({os.path.getsize(out) // 1024} KB)")


if __name__ == "__main__":
    from tfgan_cifar.lib.config import define_flags
    from tfgan_cifar.lib.errors import run
    define_flags(("run_dir",))
    flags.DEFINE_string("out", "tensorboard.png", "The PNG to write.")
    flags.DEFINE_string("tags", DEFAULT_TAGS, "Regex of the scalar tags to draw.")
    flags.DEFINE_integer("window_width", 1400, "Browser window width, pixels.")
    flags.DEFINE_integer("window_height", 1300, "Browser window height, pixels.")
    run(main)

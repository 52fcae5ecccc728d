"""A quiet start for the command-line tools: TensorFlow's native start-up lines filtered out of stderr.

TensorFlow 2.18+ logs through absl before absl is initialised, so TF_CPP_MIN_LOG_LEVEL no longer hides
lines such as `I0000 ... oneDNN custom operations are on`, `Could not find cuda drivers` or `failed call to
cuInit: ... CUDA error 303` on a machine without a GPU -- they read as failures. For the commands only, and
only when the user has set neither TF_CPP_MIN_LOG_LEVEL nor --verbose, stderr (file descriptor 2, so native
code is covered too) goes through a pipe whose reader drops those start-up lines and passes everything else
on unchanged: the project's warnings and errors, Python's, and TensorFlow's real ones.
"""
import atexit
import os
import re
import sys
import threading

# Native lines that say nothing is wrong: start-up notices, the absence of a GPU, and a known harmless
# grappler message on graphs with spectral norm.
NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IWE]\d{4} [\d:.]+ +\d+ (port\.cc|cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc|cuda_dnn\.cc"
    rb"|cuda_fft\.cc|cuda_blas\.cc|cpu_feature_guard\.cc|meta_optimizer\.cc|gpu_device\.cc|cuda_diagnostics\.cc"
    rb"|computation_placer\.cc):\d+\]"
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.)")


def wanted():
    """Filter only when the user asked for nothing: no TF_CPP_MIN_LOG_LEVEL of their own, no --verbose."""
    return "TF_CPP_MIN_LOG_LEVEL" not in os.environ and "--verbose" not in sys.argv[1:]


def install():
    """Route fd 2 through the filter (call before TensorFlow is imported). Returns True if installed."""
    if not wanted():
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # what TF still honours (e.g. later C++ INFO/WARNING lines)
    read_end, write_end = os.pipe()
    original = os.dup(2)
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward():
        pending = b""
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not NOISE.match(line))
            if kept:
                os.write(original, kept)
        if pending and not NOISE.match(pending):
            os.write(original, pending)
        os.close(read_end)

    reader = threading.Thread(target=forward, name="stderr-filter", daemon=True)
    reader.start()

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(original, 2)  # the pipe loses its last writer here (children aside), so the reader sees EOF
        reader.join(timeout=2)

    atexit.register(restore)
    return True

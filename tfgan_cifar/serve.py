"""Serve exported generators with TF Serving's REST API, plus sample grids and a page to explore them.

    python -m tfgan_cifar.serve [--models_dir=models] [--port=8501] [--host=127.0.0.1] [--poll_seconds=2]

Every export under --models_dir is loaded with `tf.saved_model.load` alone (layouts, versions, labels and hot
reload: serving/models.py; the routes: serving/rest.py). Bad requests get {"error": "<one line>"}: 404 for an
unknown model or version, 400 for the rest. Model calls are serialised by one lock and a request asks for at
most 256 images, so concurrent clients cannot exhaust memory. The Flask app runs under waitress (a production
WSGI server) on 127.0.0.1 unless --host says otherwise, with the limits below.
"""
import json
import os
import threading

from absl import flags

from tfgan_cifar.lib.errors import UsageError

# Limits: one client cannot starve the rest. Connections are cheap (waitress multiplexes them; 8 threads run
# requests), so many are allowed, and one that is idle or stuck mid-request is closed after CHANNEL_TIMEOUT:
# 120 half-open connections delay nobody, and a client holding all CONNECTION_LIMIT of them delays new ones by
# at most CHANNEL_TIMEOUT + CLEANUP_INTERVAL seconds. poll() instead of select(): past 1,024 descriptors.
CONNECTION_LIMIT = 512
CHANNEL_TIMEOUT = 10  # seconds without a byte before an idle or half-sent connection is closed
CLEANUP_INTERVAL = 1  # seconds between checks for such connections
MAX_HEADER = 64 * 1024  # bytes of request line and headers


class Server:
    """The app under waitress; run() serves until stop() (from any thread), then closes in its own thread."""

    def __init__(self, store, host="127.0.0.1", port=8501, threads=8):
        from waitress.server import create_server

        from tfgan_cifar.serving import common, rest
        self.store, self._stop = store, threading.Event()
        # waitress cuts bodies past 16 MB off itself (plain 413); between 1 and 16 MB the app answers the JSON 400.
        self.httpd = create_server(rest.create_app(store), host=host, port=port, threads=threads,
                                   connection_limit=CONNECTION_LIMIT, channel_timeout=CHANNEL_TIMEOUT,
                                   cleanup_interval=CLEANUP_INTERVAL, max_request_header_size=MAX_HEADER,
                                   max_request_body_size=16 * common.MAX_BODY, asyncore_use_poll=True)
        self.port = self.httpd.effective_port

    def run(self):
        from waitress import wasyncore
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=0.2, map=self.httpd._map, use_poll=True, count=1)
        finally:
            self.httpd.task_dispatcher.shutdown()
            wasyncore.close_all(self.httpd._map)

    def start(self):
        """run() in a thread; returns self (for tests and --load_test)."""
        self._thread = threading.Thread(target=self.run, name="waitress")
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self.store.stop()
        if getattr(self, "_thread", None):
            self._thread.join()


def check_port(host, port):
    """One line before any model is loaded when `port` cannot be bound (in use, or not ours to take)."""
    import socket
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        raise UsageError(f"cannot serve on {host}:{port}: {reason}; stop what holds it or pass --port")


def serve(models_dir="models", host="127.0.0.1", port=8501, poll_seconds=2.0):
    """Load every export, watch the folder for new versions, and serve until interrupted."""
    from tfgan_cifar.serving.models import ModelStore
    check_port(host, port)
    store = ModelStore(models_dir)
    store.watch(poll_seconds)
    server = Server(store, host, port)
    print(f"serving {', '.join(name for name, _ in store)} on http://{host}:{server.port}/  (TF Serving's REST API "
          f"under /v1/models/; {models_dir} polled every {poll_seconds:g} s; Ctrl-C stops)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        store.stop()


def measure_load(models_dir, name, requests, threads=8):
    """Serve on an ephemeral loopback port in this process, run the load-test client against it, stop cleanly."""
    import platform

    from tfgan_cifar.lib import precision
    from tfgan_cifar.serving.load_test import load_test
    from tfgan_cifar.serving.models import ModelStore
    store = ModelStore(models_dir)
    name = name or next(iter(store))[0]
    server = Server(store, port=0, threads=threads).start()
    try:
        result = load_test(f"http://127.0.0.1:{server.port}", name, requests, threads)
    finally:
        server.stop()
    return dict(result, model=name, cpu=f"{precision.cpu_features()[0]} ({os.cpu_count()} cores, {platform.machine()})")


def main(argv):
    F = flags.FLAGS
    if not 0 < F.port < 65536:
        raise UsageError(f"--port must be in 1..65535, got {F.port}")
    if F.poll_seconds < 0:
        raise UsageError(f"--poll_seconds must be >= 0, got {F.poll_seconds}")
    if F.load_test:
        return print(json.dumps(measure_load(F.models_dir, F.load_test_model, F.load_test)))
    serve(F.models_dir, F.host, F.port, F.poll_seconds)


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    flags.DEFINE_string("models_dir", "models", "Serve every export under this folder.")
    flags.DEFINE_string("host", "127.0.0.1", "Address to bind; 0.0.0.0 serves other machines too.")
    flags.DEFINE_integer("port", 8501, "Port (TF Serving's REST port is 8501).")
    flags.DEFINE_float("poll_seconds", 2.0, "Look for new, changed and removed versions under --models_dir this "
                       "often and swap them in (TF Serving's --file_system_poll_wait_seconds); 0 never looks.")
    flags.DEFINE_integer("load_test", 0, "Instead of serving: serve on a loopback port, send this many predict "
                         "requests of 4 images from 8 threads, print the errors and p50/p95 latency, and exit.")
    flags.DEFINE_string("load_test_model", "", "The model of --load_test (default: the first by name).")
    run(main)

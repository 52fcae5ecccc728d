"""Serve exported generators with TF Serving's REST API, plus sample grids and a page to explore them.

    python -m tfgan_cifar.serve [--models_dir=models] [--port=8501] [--host=127.0.0.1]

Every export under --models_dir is loaded with `tf.saved_model.load` alone: `<name>/saved_model.pb` (this
project's layout; version 1), `<name>/<version>/saved_model.pb` (TF Serving's; the highest version) and a
best-epoch export `<name>/best/` (served as `<name>_best`). Routes:

  GET  /v1/models/<name>                      status, as TF Serving answers it
  GET  /v1/models/<name>/metadata             the signatures, as TF Serving shapes them
  POST /v1/models/<name>:predict              {"instances": [...]} (row) or {"inputs": {...}} (columnar)
  GET  /v1/models/<name>/sample.png?n=64&labels=cat&seed=3        a grid of samples (without labels, a
                                              conditional model gives one row per class)
  GET  /v1/models/<name>/interpolate.png?seed=3&seed_b=7&steps=10&labels=cat   a walk from z(seed) to z(seed_b)
  GET  /api/models                            what the page needs: names, class names, conditional or not
  GET  /                                      the page

Bad requests get HTTP 400 (404 for an unknown model) and {"error": "<one line>"}. Model calls are
serialised by one lock and a request asks for at most 256 images, so concurrent clients cannot exhaust
memory. Flask app, served by waitress (a production WSGI server) on 127.0.0.1 unless --host says otherwise.
"""
import json
import os
import threading

import numpy as np
from absl import flags

from tfgan_cifar.lib.errors import UsageError

MAX_BODY = 1 << 20  # bytes of a request body
MAX_N = 256  # images per request
MAX_STEPS = 16  # images in an interpolation strip
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serve_page.html")


class BadRequest(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class Served:
    """One loaded export: its serving signatures, metadata and version."""

    def __init__(self, name, path, version):
        from tfgan_cifar.lib import savedmodel
        self.name, self.path, self.version = name, path, version
        self.loaded, self.meta = savedmodel.load(path)
        self.signatures = dict(self.loaded.signatures)

    def input_specs(self, key):
        return self.signatures[key].structured_input_signature[1]

    def main_input(self):
        """The generator's first input (the export's `inputs`): "z" for models the page can sample."""
        return self.meta["inputs"][0]


def discover(models_dir):
    """{name: (path, version)} of the exports under models_dir."""
    found = {}
    if not os.path.isdir(models_dir):
        raise UsageError(f"--models_dir {models_dir!r} is not a folder; train and export a model first (make demo)")
    for entry in sorted(os.listdir(models_dir)):
        folder = os.path.join(models_dir, entry)
        if os.path.exists(os.path.join(folder, "saved_model.pb")):
            found[entry] = (folder, 1)
            if os.path.exists(os.path.join(folder, "best", "saved_model.pb")):
                found[f"{entry}_best"] = (os.path.join(folder, "best"), 1)
        elif os.path.isdir(folder):
            versions = [int(v) for v in os.listdir(folder)
                        if v.isdigit() and os.path.exists(os.path.join(folder, v, "saved_model.pb"))]
            if versions:
                found[entry] = (os.path.join(folder, str(max(versions))), max(versions))
    return found


def load_models(models_dir):
    models = {}
    for name, (path, version) in discover(models_dir).items():
        try:
            models[name] = Served(name, path, version)
        except UsageError as e:  # not one of this project's generators (e.g. another SavedModel)
            print(f"skipping {path}: {e}")
    if not models:
        raise UsageError(f"no exported generator under {models_dir!r}; train one first (make demo)")
    return models


# ------------------------------------------------------------------------------------------ TF Serving shapes

def _dtype_name(dtype):
    from tensorflow.core.framework import types_pb2
    return types_pb2.DataType.Name(dtype.as_datatype_enum)


def _tensor_info(key, name, spec):
    dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape.as_list()]
    return {"dtype": _dtype_name(spec.dtype), "tensor_shape": {"dim": dims, "unknown_rank": False},
            "name": f"{key}_{name}:0"}


def metadata(served):
    signatures = {}
    for key, fn in served.signatures.items():
        outputs = fn.structured_outputs
        signatures[key] = {
            "inputs": {n: _tensor_info(key, n, s) for n, s in served.input_specs(key).items()},
            "outputs": {n: _tensor_info("StatefulPartitionedCall", n, t) for n, t in outputs.items()},
            "method_name": "tensorflow/serving/predict", "defaults": {}}
    return {"model_spec": {"name": served.name, "signature_name": "", "version": str(served.version)},
            "metadata": {"signature_def": {"signature_def": signatures}}}


def status(served):
    return {"model_version_status": [{"version": str(served.version), "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def _as_input(name, value, spec, served):
    """A JSON value as the signature input `name`, or BadRequest naming what was expected."""
    want = f"{spec.dtype.name} values of shape {[-1 if d is None else d for d in spec.shape.as_list()]}"
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise BadRequest(f"input {name!r} must be {want} (got ragged lists)")
    if array.dtype.kind not in ("iu" if spec.dtype.is_integer else "iuf") or array.dtype == bool:
        raise BadRequest(f"input {name!r} must be {want} (got {array.dtype.name} values)")
    expected = spec.shape.as_list()
    if array.ndim != len(expected) or any(d is not None and d != a for d, a in zip(expected, array.shape)):
        raise BadRequest(f"input {name!r} must be {want} (got shape {list(array.shape)})")
    # Ranges are checked on the values as sent, before the cast: label 4294967299 would wrap to int32 3.
    if name == "label" and (array.min(initial=0) < 0 or array.max(initial=0) >= served.meta["num_classes"]):
        raise BadRequest(f"input 'label' must be class ids in 0..{served.meta['num_classes'] - 1}")
    if spec.dtype.is_integer:
        bounds = np.iinfo(spec.dtype.as_numpy_dtype)
        if array.min(initial=0) < bounds.min or array.max(initial=0) > bounds.max:
            raise BadRequest(f"input {name!r} has values outside {spec.dtype.name}")
    array = array.astype(spec.dtype.as_numpy_dtype)
    if spec.dtype.is_floating and not np.all(np.isfinite(array)):
        raise BadRequest(f"input {name!r} has non-finite values")
    return array


def predict(served, body):
    """TF Serving's predict: row format in -> {"predictions"}, columnar in -> {"outputs"}."""
    import tensorflow as tf
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with 'instances' or 'inputs'")
    key = body.get("signature_name", "serving_default")
    if key not in served.signatures:
        raise BadRequest(f"serving signature name {key!r} not found; {served.name} has: "
                         f"{', '.join(sorted(served.signatures))}")
    specs = served.input_specs(key)
    names = sorted(specs)
    if ("instances" in body) == ("inputs" in body):
        raise BadRequest("the body needs exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise BadRequest("'instances' must be a non-empty list")
        if len(names) == 1 and not all(isinstance(r, dict) for r in rows):
            columns = {names[0]: rows}
        elif all(isinstance(r, dict) and set(r) == set(names) for r in rows):
            columns = {n: [r[n] for r in rows] for n in names}
        else:
            raise BadRequest(f"each instance must be an object with exactly the inputs {names}")
    else:
        columns = body["inputs"] if isinstance(body["inputs"], dict) else {names[0]: body["inputs"]}
        if len(names) > 1 and not isinstance(body["inputs"], dict) or set(columns) != set(names):
            raise BadRequest(f"'inputs' must name exactly the inputs {names}")
    arrays = {n: _as_input(n, columns[n], specs[n], served) for n in names}
    sizes = {len(a) for a in arrays.values()}
    if len(sizes) != 1:
        raise BadRequest(f"the inputs have different batch sizes: {sorted(sizes)}")
    if not 1 <= sizes.pop() <= MAX_N:
        raise BadRequest(f"a request asks for 1..{MAX_N} images")
    with LOCK:
        outputs = served.signatures[key](**{n: tf.constant(a) for n, a in arrays.items()})
    outputs = {n: t.numpy().tolist() for n, t in outputs.items()}
    if "instances" in body:
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        count = len(next(iter(outputs.values())))
        return {"predictions": [{n: v[i] for n, v in outputs.items()} for i in range(count)]}
    return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}


LOCK = threading.Lock()  # one model call at a time: bounded memory whatever the number of clients


# ------------------------------------------------------------------------------------------ grids

def _int_arg(args, name, default, low, high):
    text = args.get(name, str(default))
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {text!r}")
    if not low <= value <= high:
        raise BadRequest(f"{name} must be in {low}..{high}, got {value}")
    return value


def _labels(served, text, n):
    from tfgan_cifar.lib import savedmodel
    try:
        return savedmodel.parse_labels(text, n, served.meta)
    except UsageError as e:
        raise BadRequest(str(e).replace("--labels", "labels"))


def sample_grid(served, args):
    """uint8 grid of n samples (labels: names or ids, default every class), from z drawn with `seed`."""
    from tfgan_cifar.lib import images
    from tfgan_cifar.lib import savedmodel
    if served.main_input() != "z":
        raise BadRequest(f"{served.name} generates from sketches; use :predict with a 'sketch' input")
    n = _int_arg(args, "n", 64, 1, MAX_N)
    seed = _int_arg(args, "seed", 0, 0, 2**31 - 1)
    every_class = served.meta["conditional"] and not args.get("labels")
    if every_class:  # whole rows: ceil(n / classes) images of each class
        classes = len(served.meta.get("classes") or range(served.meta["num_classes"]))
        n = min(-(-n // classes), MAX_N // classes) * classes
    labels = _labels(served, args.get("labels", ""), n)
    z = np.random.default_rng(seed).standard_normal((n, served.meta["nz"])).astype(np.float32)
    with LOCK:
        out = savedmodel.generate(served.loaded, z, labels)
    return images.grid(out, rows=len(set(labels.tolist())) if every_class else None)


def interpolation_strip(served, args):
    """One row: the walk from z(seed) to z(seed_b) along the great circle (slerp), for one class."""
    from tfgan_cifar.lib import images
    from tfgan_cifar.lib import savedmodel
    if served.main_input() != "z":
        raise BadRequest(f"{served.name} generates from sketches; it has no latent space to walk")
    steps = _int_arg(args, "steps", 10, 2, MAX_STEPS)
    seed_a, seed_b = (_int_arg(args, k, d, 0, 2**31 - 1) for k, d in (("seed", 0), ("seed_b", 1)))
    nz = served.meta["nz"]
    a, b = (np.random.default_rng(s).standard_normal(nz) for s in (seed_a, seed_b))
    z = slerp(a, b, np.linspace(0.0, 1.0, steps)).astype(np.float32)
    labels = _labels(served, args.get("labels", ""), steps)
    if labels is not None and not args.get("labels"):
        labels = np.zeros(steps, np.int32) + labels[0]
    with LOCK:
        out = savedmodel.generate(served.loaded, z, labels)
    return images.grid(out, rows=1)


def slerp(a, b, t):
    """Spherical interpolation between vectors a and b at fractions t (rows), keeping Gaussian norms."""
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t)[:, None] * a + t[:, None] * b
    return (np.sin((1 - t) * omega)[:, None] * a + np.sin(t * omega)[:, None] * b) / np.sin(omega)


# ------------------------------------------------------------------------------------------ the app

def create_app(models):
    """The Flask app serving `models` ({name: Served})."""
    from flask import Flask, Response, jsonify, request

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY

    def served(name):
        if name not in models:
            raise BadRequest(f"model {name!r} not found; serving: {', '.join(sorted(models))}", 404)
        return models[name]

    @app.errorhandler(BadRequest)
    def bad_request(error):
        return jsonify(error=str(error)), error.status

    @app.errorhandler(413)
    def too_large(error):
        return jsonify(error=f"the request body is over {MAX_BODY // 1024} KB"), 400

    @app.errorhandler(404)
    def not_found(error):
        return jsonify(error=f"no such route: {request.path}"), 404

    @app.errorhandler(405)
    def wrong_method(error):
        return jsonify(error=f"{request.method} is not allowed on {request.path}"), 405

    @app.get("/v1/models/<name>")
    def model_status(name):
        return jsonify(status(served(name)))

    @app.get("/v1/models/<name>/metadata")
    def model_metadata(name):
        return jsonify(metadata(served(name)))

    @app.post("/v1/models/<name>:predict")
    def model_predict(name):
        model = served(name)
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise BadRequest(f"the request body is over {MAX_BODY // 1024} KB")
        raw = request.get_data(cache=False)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("the request body is not JSON")
        except RecursionError:  # a small body can nest deeper than Python's parser goes
            raise BadRequest("the request body nests too deeply")
        return jsonify(predict(model, body))

    def png(image):
        from tfgan_cifar.lib import images
        return Response(images.png_bytes(image, scale=2), mimetype="image/png")

    @app.get("/v1/models/<name>/sample.png")
    def model_sample(name):
        return png(sample_grid(served(name), request.args))

    @app.get("/v1/models/<name>/interpolate.png")
    def model_interpolate(name):
        return png(interpolation_strip(served(name), request.args))

    @app.get("/api/models")
    def api_models():
        return jsonify([dict(name=m.name, model=m.meta["model"], conditional=m.meta["conditional"],
                             class_names=m.meta["class_names"], image_size=m.meta["image_size"],
                             samples_from=m.main_input(), epoch=m.meta.get("epoch"))
                        for m in models.values()])

    @app.get("/")
    def page():
        with open(PAGE, encoding="utf-8") as f:
            return Response(f.read(), mimetype="text/html")

    return app


def load_test(url, name, requests=200, threads=8, batch=4, seed=0):
    """`requests` predict calls of `batch` images each from `threads` client threads against a running server;
    {requests, threads, errors, p50_ms, p95_ms, seconds}. Bounded in count, loopback only by intent."""
    import time
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    with urllib.request.urlopen(f"{url}/v1/models/{name}/metadata", timeout=30) as response:
        inputs = json.load(response)["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    nz = int(inputs["z"]["tensor_shape"]["dim"][1]["size"])
    z = np.random.default_rng(seed).standard_normal((batch, nz)).round(4).tolist()
    body = {"inputs": {"z": z, "label": [0] * batch} if "label" in inputs else z}
    data = json.dumps(body).encode()

    def one(_):
        start = time.perf_counter()
        request = urllib.request.Request(f"{url}/v1/models/{name}:predict", data=data,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                ok = response.status == 200 and len(json.load(response)["outputs"]) == batch
        except (urllib.error.URLError, OSError, ValueError):
            ok = False
        return ok, 1000 * (time.perf_counter() - start)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, range(requests)))
    latencies = np.array([ms for _, ms in results])
    return dict(requests=requests, threads=threads, batch=batch, errors=sum(not ok for ok, _ in results),
                p50_ms=round(float(np.percentile(latencies, 50)), 1),
                p95_ms=round(float(np.percentile(latencies, 95)), 1), seconds=round(time.perf_counter() - start, 1))


def make_server(models, host="127.0.0.1", port=8501, threads=8):
    """The app under waitress (port 0: any free one, see .effective_port); call .run() to serve."""
    from waitress.server import create_server
    # waitress cuts bodies past 16 MB off itself (plain 413); between 1 and 16 MB the app answers the JSON 400.
    return create_server(create_app(models), host=host, port=port, threads=threads,
                         max_request_body_size=16 * MAX_BODY)


def check_port(host, port):
    """One line before any model is loaded when `port` cannot be bound (in use, or not ours to take)."""
    import socket
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        raise UsageError(f"cannot serve on {host}:{port}: {reason}; stop what holds it or pass --port")


def serve(models_dir="models", host="127.0.0.1", port=8501, threads=8):
    """Load every export and serve until interrupted."""
    check_port(host, port)
    models = load_models(models_dir)
    server = make_server(models, host, port, threads)
    print(f"serving {', '.join(sorted(models))} on http://{host}:{server.effective_port}/  (TF Serving's REST API "
          f"under /v1/models/; Ctrl-C stops)")
    try:
        server.run()
    finally:
        server.close()


def main(argv):
    F = flags.FLAGS
    if not 0 < F.port < 65536:
        raise UsageError(f"--port must be in 1..65535, got {F.port}")
    if F.load_test:
        return print(json.dumps(measure_load(F.models_dir, F.load_test_model, F.load_test)))
    serve(F.models_dir, F.host, F.port)


def measure_load(models_dir, name, requests, threads=8):
    """Serve on an ephemeral loopback port in this process and run load_test against it."""
    import platform

    from tfgan_cifar.lib import precision
    models = load_models(models_dir)
    name = name or sorted(models)[0]
    httpd = make_server(models, port=0, threads=threads)
    threading.Thread(target=httpd.run, daemon=True).start()
    try:
        result = load_test(f"http://127.0.0.1:{httpd.effective_port}", name, requests, threads)
    finally:
        httpd.close()
    return dict(result, model=name, cpu=f"{precision.cpu_features()[0]} ({os.cpu_count()} cores, {platform.machine()})")


if __name__ == "__main__":
    from tfgan_cifar.lib.errors import run
    flags.DEFINE_string("models_dir", "models", "Serve every export under this folder.")
    flags.DEFINE_string("host", "127.0.0.1", "Address to bind; 0.0.0.0 serves other machines too.")
    flags.DEFINE_integer("port", 8501, "Port (TF Serving's REST port is 8501).")
    flags.DEFINE_integer("load_test", 0, "Instead of serving: serve on a loopback port, send this many predict "
                         "requests of 4 images from 8 threads, print the errors and p50/p95 latency, and exit.")
    flags.DEFINE_string("load_test_model", "", "The model of --load_test (default: the first by name).")
    run(main)

"""TF Serving's REST API over a ModelStore, as its documentation and http_rest_api_handler.cc define it:

  GET  /v1/models/NAME[/versions/N | /labels/L]                 status (every version without N or L)
  GET  /v1/models/NAME[/versions/N | /labels/L]/metadata        signatures, as TF Serving shapes them
  POST /v1/models/NAME[/versions/N | /labels/L]:predict         {"instances": [...]} or {"inputs": {...}}
  POST ...:classify, ...:regress                                400: a generator has no such signature
plus this project's pictures (the page's): GET /v1/models/NAME/sample.png and /interpolate.png, /api/models,
and the page at /. Every error is {"error": "<one line>"}: 404 for an unknown model or version, 400 for the
rest, "Malformed request: METHOD PATH" for a /v1/ path that is none of the above (TF Serving's words).
"""
import json
import os

import numpy as np

from tfgan_cifar.serving import pictures
from tfgan_cifar.serving.common import MAX_BODY, MAX_N, MODEL_CALL, BadRequest

PAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serve_page.html")
MAX_VERSION = 2**63 - 1  # TF Serving's int64 version numbers


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


def status(model, version=None):
    """GetModelStatusResponse: every version on disk (AVAILABLE, or END with the reason it did not load), or one."""
    states = {v: ("AVAILABLE", "OK", "") for v in model.versions}
    states.update({v: ("END", "UNKNOWN", why) for v, why in model.failed.items() if v not in model.versions})
    if version is not None:
        if version not in states:
            raise BadRequest(f"Could not find version {version} of model {model.name}", 404)
        states = {version: states[version]}
    return {"model_version_status": [{"version": str(v), "state": state,
                                      "status": {"error_code": code, "error_message": why}}
                                     for v, (state, code, why) in sorted(states.items(), reverse=True)]}


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
    with MODEL_CALL:
        outputs = served.signatures[key](**{n: tf.constant(a) for n, a in arrays.items()})
    outputs = {n: t.numpy().tolist() for n, t in outputs.items()}
    if "instances" in body:
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        count = len(next(iter(outputs.values())))
        return {"predictions": [{n: v[i] for n, v in outputs.items()} for i in range(count)]}
    return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}


def _version(text):
    """A path's version number; TF Serving's message for one past int64."""
    if int(text) > MAX_VERSION:
        raise BadRequest(f"Failed to convert version: {text} to numeric.")
    return int(text)


def create_app(store):
    """The Flask app over `store` (a ModelStore: name -> Model, swapped whole on reload)."""
    from flask import Flask, Response, jsonify, request
    from werkzeug.routing import BaseConverter

    class Version(BaseConverter):  # /versions/N: digits only, as TF Serving's (\d+)
        regex = r"\d+"

    class Name(BaseConverter):  # a model or label name has no '/' or ':', as TF Serving's ([^/:]+)
        regex = r"[^/:]+"

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.url_map.converters.update(version=Version, name=Name)

    def served(name, version=None, label=None):
        return store[name].version(None if version is None else _version(version), label)

    @app.errorhandler(BadRequest)
    def bad_request(error):
        return jsonify(error=str(error)), error.status

    @app.errorhandler(413)
    def too_large(error):
        return jsonify(error=f"the request body is over {MAX_BODY // 1024} KB"), 400

    @app.errorhandler(404)
    def not_found(error):
        if request.path.lower().startswith("/v1/"):
            return jsonify(error=f"Malformed request: {request.method} {request.path}"), 400
        return jsonify(error=f"no such route: {request.path}"), 404

    @app.errorhandler(405)
    def wrong_method(error):
        if request.path.lower().startswith("/v1/"):
            return jsonify(error=f"Malformed request: {request.method} {request.path}"), 400
        return jsonify(error=f"{request.method} is not allowed on {request.path}"), 405

    @app.get("/v1/models")
    def no_model():
        raise BadRequest("Missing model name in request.")

    @app.get("/v1/models/<name:name>")
    @app.get("/v1/models/<name:name>/versions/<version:version>")
    def model_status(name, version=None):
        return jsonify(status(store[name], None if version is None else _version(version)))

    @app.get("/v1/models/<name:name>/labels/<name:label>")
    def label_status(name, label):
        return jsonify(status(store[name], served(name, label=label).version))

    @app.get("/v1/models/<name:name>/metadata")
    @app.get("/v1/models/<name:name>/versions/<version:version>/metadata")
    @app.get("/v1/models/<name:name>/labels/<name:label>/metadata")
    def model_metadata(name, version=None, label=None):
        return jsonify(metadata(served(name, version, label)))

    @app.post("/v1/models/<name:name>:<verb>")
    @app.post("/v1/models/<name:name>/versions/<version:version>:<verb>")
    @app.post("/v1/models/<name:name>/labels/<name:label>:<verb>")
    def model_predict(name, verb, version=None, label=None):
        if verb not in ("predict", "classify", "regress"):
            raise BadRequest(f"Malformed request: POST {request.path}")
        model = served(name, version, label)
        if verb != "predict":
            kind = dict(classify="classification", regress="regression")[verb]
            raise BadRequest(f"Expected {kind} signature method_name to be tensorflow/serving/{verb}. "
                             f"Was: tensorflow/serving/predict")
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

    @app.get("/v1/models/<name:name>/sample.png")
    def model_sample(name):
        return png(pictures.sample_grid(served(name), request.args))

    @app.get("/v1/models/<name:name>/interpolate.png")
    def model_interpolate(name):
        return png(pictures.interpolation_strip(served(name), request.args))

    @app.get("/api/models")
    def api_models():
        return jsonify([dict(name=name, model=m.meta["model"], conditional=m.meta["conditional"],
                             class_names=m.meta["class_names"], image_size=m.meta["image_size"],
                             samples_from=m.main_input(), epoch=m.meta.get("epoch"), version=m.version,
                             versions=sorted(model.versions), labels=model.labels, path=m.path,
                             loaded_at=round(m.loaded_at, 3))
                        for name, model in store if model.versions for m in [model.latest()]])

    @app.get("/")
    def page():
        with open(PAGE, encoding="utf-8") as f:
            return Response(f.read(), mimetype="text/html")

    return app

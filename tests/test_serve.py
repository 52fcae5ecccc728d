"""make serve: TF Serving's REST API over exports of short `shapes` runs (status, metadata, predict in both
formats, every bad request), the page in headless Chromium, and a bounded load test on loopback."""
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import error_lines, run_cli, tiny_config
from tfgan_cifar import serve, train


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    for model in ("acgan", "dcgan"):
        train.train(tiny_config(model, fid_every=0, run_dir=str(root / "runs" / model),
                                export_dir=str(root / "models")), verbose=0)
    return root / "models"


@pytest.fixture(scope="module")
def client(models_dir):
    return serve.create_app(serve.load_models(str(models_dir))).test_client()


def expected_images(models_dir, name, **inputs):
    loaded = tf.saved_model.load(str(models_dir / name))
    return loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})["images"].numpy()


def test_status_and_metadata_as_tf_serving_shapes_them(client):
    assert client.get("/v1/models/acgan").get_json() == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    meta = client.get("/v1/models/acgan/metadata").get_json()
    assert meta["model_spec"] == {"name": "acgan", "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"] == {
        "z": {"dtype": "DT_FLOAT", "name": "serving_default_z:0",
              "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "100", "name": ""}],
                               "unknown_rank": False}},
        "label": {"dtype": "DT_INT32", "name": "serving_default_label:0",
                  "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}}}
    images = signature["outputs"]["images"]
    assert images["dtype"] == "DT_UINT8"
    assert [d["size"] for d in images["tensor_shape"]["dim"]] == ["-1", "32", "32", "3"]


def test_predict_in_row_and_columnar_format_matches_the_savedmodel(client, models_dir):
    z = np.random.default_rng(0).standard_normal((3, 100)).astype(np.float32)
    labels = np.array([0, 4, 9], np.int32)
    expected = expected_images(models_dir, "acgan", z=z, label=labels)
    rows = client.post("/v1/models/acgan:predict", json={"instances": [
        {"z": z[i].tolist(), "label": int(labels[i])} for i in range(3)]})
    assert rows.status_code == 200
    np.testing.assert_array_equal(np.asarray(rows.get_json()["predictions"], np.uint8), expected)
    columns = client.post("/v1/models/acgan:predict", json={"inputs": {"z": z.tolist(), "label": labels.tolist()},
                                                            "signature_name": "serving_default"})
    np.testing.assert_array_equal(np.asarray(columns.get_json()["outputs"], np.uint8), expected)
    # A single-input signature takes bare rows and a bare columnar value.
    expected = expected_images(models_dir, "dcgan", z=z)
    for body, key in (({"instances": z.tolist()}, "predictions"), ({"inputs": z.tolist()}, "outputs")):
        np.testing.assert_array_equal(np.asarray(client.post("/v1/models/dcgan:predict", json=body).get_json()[key],
                                                 np.uint8), expected)


def decode_png(data):
    from io import BytesIO

    from PIL import Image
    return np.asarray(Image.open(BytesIO(data)))


def test_sample_png_by_class_name_is_the_seeded_grid(client, models_dir):
    from tfgan_cifar.lib import images
    res = client.get("/v1/models/acgan/sample.png?n=4&labels=green%20square&seed=3")
    assert res.status_code == 200 and res.mimetype == "image/png"
    z = np.random.default_rng(3).standard_normal((4, 100)).astype(np.float32)
    expected = images.grid(expected_images(models_dir, "acgan", z=z, label=np.ones(4, np.int32)))
    np.testing.assert_array_equal(decode_png(res.data)[::2, ::2], expected)  # served at 2x
    strip = decode_png(client.get("/v1/models/dcgan/interpolate.png?seed=1&seed_b=2&steps=5").data)
    assert strip.shape == (2 * (32 + 4), 2 * (5 * 34 + 2), 3)  # one row of 5, 2 px gaps, at 2x


def test_slerp_ends_at_both_vectors_and_keeps_the_norm_of_orthogonal_unit_vectors():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    path = serve.slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[-1], b, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0)
    np.testing.assert_allclose(path[2], [np.sqrt(0.5), np.sqrt(0.5)])


BAD = [
    ("get", "/v1/models/nope", None, 404, "model 'nope' not found; serving: acgan, dcgan"),
    ("post", "/v1/models/dcgan:predict", {"instances": [[0.0] * 100], "signature_name": "train"}, 400,
     "serving signature name 'train' not found; dcgan has: serving_default"),
    ("get", "/v1/models/dcgan/sample.png?n=0", None, 400, "n must be in 1..256, got 0"),
    ("get", "/v1/models/dcgan/sample.png?n=257", None, 400, "n must be in 1..256, got 257"),
    ("post", "/v1/models/dcgan:predict", {"instances": [[0.0] * 100] * 257}, 400, "a request asks for 1..256 images"),
    ("get", "/v1/models/acgan/sample.png?labels=zebra", None, 400,
     "labels: unknown class 'zebra'; acgan knows: 0=red disc"),
    ("post", "/v1/models/dcgan:predict", {"instances": [[0.0] * 99]}, 400,
     "input 'z' must be float32 values of shape [-1, 100] (got shape [1, 99])"),
    ("post", "/v1/models/dcgan:predict", {"inputs": [["a"] * 100]}, 400,
     "input 'z' must be float32 values of shape [-1, 100] (got str"),
    ("post", "/v1/models/acgan:predict", {"inputs": {"z": [[0.0] * 100], "label": [2.5]}}, 400,
     "input 'label' must be int32 values of shape [-1] (got float64 values)"),
    ("post", "/v1/models/acgan:predict", {"inputs": {"z": [[0.0] * 100], "label": [10]}}, 400,
     "input 'label' must be class ids in 0..9"),
    ("post", "/v1/models/acgan:predict", {"inputs": {"z": [[0.0] * 100], "label": [4294967299]}}, 400,
     "input 'label' must be class ids in 0..9"),  # not 4294967299 % 2**32 = class 3
    ("post", "/v1/models/dcgan:predict", "[" * 1000 + "]" * 1000, 400, "the request body nests too deeply"),
    ("post", "/v1/models/acgan:predict", {"inputs": {"z": [[0.0] * 100]}}, 400,
     "'inputs' must name exactly the inputs"),
    ("post", "/v1/models/dcgan:predict", {"instances": [[0.0] * 100], "inputs": [[0.0] * 100]}, 400,
     "the body needs exactly one of"),
    ("post", "/v1/models/dcgan:predict", "x" * ((1 << 20) + 1), 400, "the request body is over 1024 KB"),
    ("post", "/v1/models/dcgan:predict", "{not json", 400, "the request body is not JSON"),
]


@pytest.mark.parametrize("method, path, body, code, message", BAD, ids=[b[4][:40] for b in BAD])
def test_bad_requests_get_a_json_reason_and_the_server_keeps_serving(client, method, path, body, code, message):
    kwargs = {}
    if isinstance(body, str):
        kwargs = dict(data=body, content_type="application/json")
    elif body is not None:
        kwargs = dict(json=body)
    res = getattr(client, method)(path, **kwargs)
    assert res.status_code == code and res.is_json, res.data[:300]
    assert res.get_json()["error"].startswith(message), res.get_json()
    assert client.get("/v1/models/dcgan").status_code == 200  # still serving


@pytest.fixture(scope="module")
def server(models_dir):
    """The app under waitress on an ephemeral loopback port: (base url, server)."""
    httpd = serve.make_server(serve.load_models(str(models_dir)), port=0)
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.effective_port}", httpd
    httpd.close()


def test_a_bounded_load_on_loopback_has_no_errors(server):
    url, _ = server
    result = serve.load_test(url, "dcgan", requests=200, threads=8, batch=4)
    print(f"load test: {result}")
    assert result["errors"] == 0 and result["requests"] == 200
    assert 0 < result["p50_ms"] <= result["p95_ms"]


def test_the_real_server_answers_a_2_mb_body_with_the_json_reason(server):
    import urllib.error
    import urllib.request
    url, _ = server
    request = urllib.request.Request(f"{url}/v1/models/dcgan:predict", data=b"x" * (2 << 20),
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=60)
    assert info.value.code == 400
    assert json.loads(info.value.read()) == {"error": "the request body is over 1024 KB"}


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package; apt-get install chromium)")
    return path


class DevTools:
    """Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: fd 3 in, fd 4 out)."""

    def __init__(self, tmp_path):
        high = lambda fd: fcntl.fcntl(fd, fcntl.F_DUPFD, 10)  # above 3 and 4, so the dups below cannot collide
        to_chrome_r, self.to_chrome = map(high, os.pipe())
        self.from_chrome, from_chrome_w = map(high, os.pipe())
        args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path}/profile", "--window-size=1280,1400", "about:blank"]
        place_fds = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
                     "os.execv(sys.argv[3], sys.argv[3:])")
        self.proc = subprocess.Popen([sys.executable, "-c", place_fds, str(to_chrome_r), str(from_chrome_w), *args],
                                     pass_fds=(to_chrome_r, from_chrome_w), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.next_id, self.buffer, self.session = 0, b"", None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def call(self, method, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.time() + 60
        while time.time() < deadline:
            while b"\0" not in self.buffer:
                if not select.select([self.from_chrome], [], [], max(0.0, deadline - time.time()))[0]:
                    raise TimeoutError(f"chromium did not answer {method}")
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium exited (code {self.proc.poll()}) during {method}")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                return reply["result"]
        raise TimeoutError(method)

    def js(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def wait_for(self, expression, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.js(expression):
                return
            time.sleep(0.1)
        raise TimeoutError(expression)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def grid_pixels(tools, image_id="grid"):
    """The displayed image's pixels, read back through a canvas (a digest of what the user sees)."""
    return tools.js(f"""(() => {{ const img = document.getElementById('{image_id}');
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        c.getContext('2d').drawImage(img, 0, 0); return c.toDataURL('image/png'); }})()""")


def test_the_page_shows_a_grid_and_changing_the_class_changes_it(server, tmp_path):
    url, _ = server
    tools = DevTools(tmp_path)
    try:
        tools.call("Page.enable")
        tools.call("Page.navigate", url=f"{url}/#model=acgan&seed=3&n=16&compare=dcgan")
        tools.wait_for("document.body && document.body.dataset.rendered === '1' && "
                       "document.getElementById('grid').complete")
        assert tools.js("document.getElementById('error').textContent") == ""
        # Every class, one row each: 16 images over 10 classes become 10 rows of 2, at 2x.
        assert tools.js("[document.getElementById('grid').naturalWidth, document.getElementById('grid').naturalHeight]"
                        ) == [2 * (2 * 34 + 2), 2 * (10 * 34 + 2)]
        assert tools.js("document.getElementById('compare-box').hidden") is False
        assert tools.js("document.getElementById('strip').naturalWidth") == 2 * (10 * 34 + 2)
        before = grid_pixels(tools)
        assert "labels" not in tools.js("document.getElementById('grid').dataset.src")
        tools.js("(() => { const s = document.getElementById('class'); s.value = 'blue triangle';"
                 " s.dispatchEvent(new Event('change')); })()")
        tools.wait_for("document.body.dataset.rendered === '2' && document.getElementById('grid').complete")
        assert "labels=blue+triangle" in tools.js("document.getElementById('grid').dataset.src")
        assert grid_pixels(tools) != before
        assert "label=blue+triangle" in tools.js("location.hash")
        assert tools.js("document.getElementById('download').getAttribute('href')").startswith(
            "/v1/models/acgan/sample.png?n=16&seed=3&labels=blue+triangle")
        shot = tools.call("Page.captureScreenshot", format="png")["data"]
        (tmp_path / "page.png").write_bytes(base64.b64decode(shot))
        if os.environ.get("SERVE_SCREENSHOT"):  # keep a copy to look at
            shutil.copy(tmp_path / "page.png", os.environ["SERVE_SCREENSHOT"])
    finally:
        tools.close()


def test_a_port_in_use_is_one_line_before_any_model_loads(tmp_path):
    import socket
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        res = run_cli("serve", f"--port={port}", f"--models_dir={tmp_path}")  # no model there: the port is first
    lines = error_lines(res.stderr)
    assert res.returncode == 2 and len(lines) == 1, res.stderr[-2000:]
    assert lines[0] == f"error: cannot serve on 127.0.0.1:{port}: Address already in use; stop what holds it or pass --port"

"""make serve: TF Serving's REST API over exports of short `shapes` runs (status, metadata, predict in both
formats, versions and labels, every bad request), hot reload under load, the connection limits, the page in
headless Chromium, and a bounded load test on loopback."""
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

from conftest import EXPORTS, error_lines, run_cli, tiny_config
from tfgan_cifar import serve
from tfgan_cifar.lib import latent
from tfgan_cifar.serving import rest
from tfgan_cifar.serving.load_test import load_test
from tfgan_cifar.serving.models import ModelStore

pytestmark = pytest.mark.xdist_group(EXPORTS)  # one test worker for all: the exports are built once


@pytest.fixture(scope="module")
def models_dir(exports, tmp_path_factory):
    """The shared acgan and dcgan exports (conftest.exports), copied (without the monitor's best/)."""
    import shutil
    root = tmp_path_factory.mktemp("serve")
    for model in ("acgan", "dcgan"):
        shutil.copytree(exports[0] / "models" / model, root / "models" / model, ignore=shutil.ignore_patterns("best"))
    return root / "models"


@pytest.fixture(scope="module")
def client(models_dir):
    return rest.create_app(ModelStore(str(models_dir))).test_client()


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
    # The walk's ends are z(seed) and z(seed_b) themselves; the middle is on the great circle between them.
    z = latent.walk(100, 1, 2, 5)
    np.testing.assert_allclose(z[[0, -1]], np.concatenate([latent.latent_vectors(1, 100, s) for s in (1, 2)]),
                               rtol=1e-6)
    np.testing.assert_array_equal(strip[::2, ::2], images.grid(expected_images(models_dir, "dcgan", z=z), rows=1))


def test_slerp_ends_at_both_vectors_and_keeps_the_norm_of_orthogonal_unit_vectors():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    path = latent.slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[-1], b, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0)
    np.testing.assert_allclose(path[2], [np.sqrt(0.5), np.sqrt(0.5)])


BAD = [
    ("get", "/v1/models/nope", None, 404, "model 'nope' not found; serving: acgan, dcgan"),
    ("get", "/v1/models", None, 400, "Missing model name in request."),
    ("get", "/v1/foo", None, 400, "Malformed request: GET /v1/foo"),
    ("get", "/v1/models/dcgan/versions/HELLO", None, 400, "Malformed request: GET /v1/models/dcgan/versions/HELLO"),
    ("get", "/v1/models/dcgan:predict", None, 400, "Malformed request: GET /v1/models/dcgan:predict"),
    ("get", "/v1/models/dcgan/versions/7", None, 404, "Could not find version 7 of model dcgan"),
    ("post", "/v1/models/dcgan/versions/7:predict", {"instances": [[0.0] * 100]}, 404,
     "Servable not found for request: Specific(dcgan, 7); serving versions 1"),
    ("post", "/v1/models/dcgan/versions/18446744073709551615:predict", {"instances": [[0.0] * 100]}, 400,
     "Failed to convert version: 18446744073709551615 to numeric."),
    ("post", "/v1/models/dcgan/labels/stable:predict", {"instances": [[0.0] * 100]}, 400,
     "Unrecognized servable version label: stable"),
    ("post", "/v1/models/dcgan:classify", {"examples": []}, 400,
     "Expected classification signature method_name to be tensorflow/serving/classify. Was: tensorflow/serving/predict"),
    ("post", "/v1/models/dcgan:explain", {"instances": []}, 400, "Malformed request: POST /v1/models/dcgan:explain"),
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
    httpd = serve.Server(ModelStore(str(models_dir)), port=0).start()
    yield f"http://127.0.0.1:{httpd.port}", httpd
    httpd.stop()


def test_a_bounded_load_on_loopback_has_no_errors(server):
    url, _ = server
    result = load_test(url, "dcgan", requests=200, threads=8, batch=4)
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


# ------------------------------------------------------------------------------------------ versions and reload

def export_untrained(path, seed):
    """A dcgan export of a freshly initialised generator (other weights than the trained one), written the way
    training writes every export (savedmodel.save_generator: beside the target, then two renames)."""
    from tfgan_cifar import gans
    from tfgan_cifar.lib import savedmodel
    config = tiny_config("dcgan", seed=seed)
    gan = gans.build(config)
    savedmodel.save_generator(gan, str(path), savedmodel.metadata(gan, [str(i) for i in range(10)], 0, 0))


def predict_dcgan(url_or_client, path, z):
    body = {"inputs": z.tolist()}
    if isinstance(url_or_client, str):
        import urllib.request
        request = urllib.request.Request(url_or_client + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return np.asarray(json.load(response)["outputs"], np.uint8)
    res = url_or_client.post(path, json=body)
    assert res.status_code == 200, res.get_json()
    return np.asarray(res.get_json()["outputs"], np.uint8)


def test_a_tf_serving_base_path_serves_every_good_version_and_skips_a_broken_newest(models_dir, tmp_path):
    base = tmp_path / "models" / "gen"
    shutil.copytree(models_dir / "dcgan", base / "1")
    export_untrained(base / "2", seed=1)
    (base / "3").mkdir()
    (base / "3" / "saved_model.pb").write_bytes(b"not a SavedModel")
    (base / "labels.json").write_text(json.dumps({"stable": 1, "canary": 3}))
    logged = []
    store = ModelStore(str(tmp_path / "models"), log=logged.append)
    client = rest.create_app(store).test_client()
    assert any(line.startswith(f"skipping gen version 3 ({base / '3'}): ") for line in logged), logged
    assert "label 'canary' of gen names version 3, which is not being served; ignored" in logged
    statuses = client.get("/v1/models/gen").get_json()["model_version_status"]
    assert [(s["version"], s["state"], s["status"]["error_code"]) for s in statuses] == [
        ("3", "END", "UNKNOWN"), ("2", "AVAILABLE", "OK"), ("1", "AVAILABLE", "OK")]
    assert statuses[0]["status"]["error_message"]  # why 3 did not load
    assert client.get("/v1/models/gen/labels/stable").get_json()["model_version_status"][0]["version"] == "1"
    assert client.get("/v1/models/gen/metadata").get_json()["model_spec"]["version"] == "2"  # newest good
    assert client.get("/v1/models/gen/versions/1/metadata").get_json()["model_spec"]["version"] == "1"
    z = latent.latent_vectors(2, 100, 5)
    trained = expected_images(models_dir, "dcgan", z=z)
    untrained = tf.saved_model.load(str(base / "2")).signatures["serving_default"](z=tf.constant(z))["images"].numpy()
    assert not np.array_equal(trained, untrained)
    np.testing.assert_array_equal(predict_dcgan(client, "/v1/models/gen:predict", z), untrained)
    np.testing.assert_array_equal(predict_dcgan(client, "/v1/models/gen/versions/2:predict", z), untrained)
    np.testing.assert_array_equal(predict_dcgan(client, "/v1/models/gen/versions/1:predict", z), trained)
    np.testing.assert_array_equal(predict_dcgan(client, "/v1/models/gen/labels/stable:predict", z), trained)
    res = client.post("/v1/models/gen/labels/canary:predict", json={"inputs": z.tolist()})
    assert res.status_code == 400 and res.get_json() == {"error": "Unrecognized servable version label: canary"}
    logged.clear()
    store.poll()  # nothing changed on disk: nothing reloaded, nothing said again
    assert logged == []
    # Version 3 fixed and version 1 removed: the next poll loads one and unloads the other, and says so.
    shutil.rmtree(base / "3")
    shutil.copytree(models_dir / "dcgan", base / "3")
    shutil.rmtree(base / "1")
    logged.clear()
    store.poll()
    assert f"loaded gen version 3 from {base / '3'}" in logged and "unloaded gen version 1 (gone from disk)" in logged
    assert [s["version"] for s in client.get("/v1/models/gen").get_json()["model_version_status"]] == ["3", "2"]
    np.testing.assert_array_equal(predict_dcgan(client, "/v1/models/gen:predict", z), trained)


def test_a_poll_between_an_exporters_two_renames_keeps_serving_the_loaded_version(models_dir, tmp_path):
    """save_generator replaces an export by renaming it aside and the new one into place: a poll that falls
    between the two renames keeps the loaded version (no 404 window); a folder really gone is unloaded."""
    shutil.copytree(models_dir / "dcgan", tmp_path / "models" / "gen")
    shutil.copytree(models_dir / "dcgan", tmp_path / "models" / "other")
    logged = []
    store = ModelStore(str(tmp_path / "models"), log=logged.append)
    loaded = store["gen"].latest()
    os.rename(tmp_path / "models" / "gen", tmp_path / "models" / "gen.old-99")  # the first rename only
    assert store.poll() == [] and store["gen"].latest() is loaded
    shutil.rmtree(tmp_path / "models" / "gen.old-99")  # gone, no replacement under way
    assert store.poll() == ["unloaded gen version 1 (gone from disk)"]
    with pytest.raises(Exception, match="not found"):
        store["gen"]


def test_an_export_replaced_while_serving_is_swapped_in_without_a_failed_request(models_dir, tmp_path):
    """Clients predict without pause while training's exporter replaces the folder: every answer is the old
    generator's or the new one's, none fails, the new one is served within two polls, and a broken
    replacement is logged and skipped while the loaded one goes on serving."""
    shutil.copytree(models_dir / "dcgan", tmp_path / "models" / "gen")
    logged = []
    store = ModelStore(str(tmp_path / "models"), log=logged.append)
    store.watch(0.25)
    server = serve.Server(store, port=0).start()
    url = f"http://127.0.0.1:{server.port}"
    z = latent.latent_vectors(2, 100, 5)
    old = expected_images(models_dir, "dcgan", z=z)
    answers, stop = [], threading.Event()

    def client():
        while not stop.is_set():
            try:
                answers.append((time.perf_counter(), predict_dcgan(url, "/v1/models/gen:predict", z)))
            except Exception as e:  # noqa: BLE001 - any failure is what this test counts
                answers.append((time.perf_counter(), e))
    clients = [threading.Thread(target=client) for _ in range(3)]
    try:
        for thread in clients:
            thread.start()
        time.sleep(0.5)
        export_untrained(tmp_path / "models" / "gen", seed=1)
        replaced = time.perf_counter()
        new = tf.saved_model.load(str(tmp_path / "models" / "gen")).signatures["serving_default"](
            z=tf.constant(z))["images"].numpy()
        deadline = time.time() + 30
        while time.time() < deadline and not any(
                t > replaced and isinstance(a, np.ndarray) and np.array_equal(a, new) for t, a in answers):
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    failures = [a for _, a in answers if not isinstance(a, np.ndarray)]
    assert failures == [] and len(answers) > 10
    assert all(np.array_equal(a, old) or np.array_equal(a, new) for _, a in answers)
    first_new = min(t for t, a in answers if np.array_equal(a, new))
    print(f"reload: {len(answers)} requests during the swap, 0 failed, new weights served "
          f"{first_new - replaced:.2f} s after the export was replaced (poll every 0.25 s)")
    assert first_new - replaced < 5
    assert f"reloaded gen version 1 (changed on disk) from {tmp_path / 'models' / 'gen'}" in logged
    assert np.array_equal(answers[-1][1], new)
    # A broken replacement: logged once, skipped, and the loaded generator goes on serving.
    (tmp_path / "models" / "gen" / "saved_model.pb").write_bytes(b"broken")
    store.poll()
    try:
        assert any(line.startswith("skipping gen version 1") and "still serving the one loaded at" in line
                   for line in logged), logged
        np.testing.assert_array_equal(predict_dcgan(url, "/v1/models/gen:predict", z), new)
    finally:
        server.stop()


def test_idle_half_open_connections_neither_starve_a_new_client_nor_stay_open(models_dir, monkeypatch):
    import socket
    monkeypatch.setattr(serve, "CHANNEL_TIMEOUT", 2)  # the production value is 10 s; the rule is the same
    server = serve.Server(ModelStore(str(models_dir)), port=0).start()
    idle = []
    try:
        for _ in range(120):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET /v1/models/dcgan HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            idle.append(sock)
        start = time.perf_counter()
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/v1/models/dcgan", timeout=30) as response:
            assert json.load(response)["model_version_status"][0]["state"] == "AVAILABLE"
        waited = time.perf_counter() - start
        assert waited < 1.0, f"a new client waited {waited:.1f} s behind 120 idle connections"
        time.sleep(2 + 1 + 1)  # CHANNEL_TIMEOUT + CLEANUP_INTERVAL, and a margin
        closed = 0
        for sock in idle:
            sock.settimeout(0.5)
            try:
                closed += sock.recv(1) == b""
            except (socket.timeout, ConnectionResetError):
                closed += isinstance(sys.exc_info()[1], ConnectionResetError)
        assert closed == 120
    finally:
        for sock in idle:
            sock.close()
        server.stop()


def test_load_test_exits_cleanly_with_one_json_line(models_dir):
    res = run_cli("serve", f"--models_dir={models_dir}", "--load_test=40", "--load_test_model=dcgan")
    assert res.returncode == 0 and "Traceback" not in res.stderr and "Exception in thread" not in res.stderr, \
        res.stderr[-2000:]
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["requests"] == 40 and result["errors"] == 0 and result["model"] == "dcgan"

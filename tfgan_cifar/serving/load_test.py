"""A bounded load-test client: `requests` predict calls from `threads` client threads against a running server,
loopback only by intent (make serve ARGS=--load_test=200)."""
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def load_test(url, name, requests=200, threads=8, batch=4, seed=0):
    """{requests, threads, batch, errors, p50_ms, p95_ms, seconds} of `requests` predict calls of `batch` images."""
    from tfgan_cifar.lib import latent
    with urllib.request.urlopen(f"{url}/v1/models/{name}/metadata", timeout=30) as response:
        inputs = json.load(response)["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    nz = int(inputs["z"]["tensor_shape"]["dim"][1]["size"])
    z = latent.latent_vectors(batch, nz, seed).round(4).tolist()
    data = json.dumps({"inputs": {"z": z, "label": [0] * batch} if "label" in inputs else z}).encode()

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

"""--precision=auto: mixed_bfloat16 where the device runs it faster than float32, float32 elsewhere.

The decision comes from the device's features: GPUs of compute capability 8.0+ and CPUs with AMX-BF16 have
bfloat16 matrix units, so bfloat16 wins there; CPUs with neither AMX nor AVX512-BF16 emulate it, so it
loses. A CPU with AVX512-BF16 but no AMX is the unsure case (measured on two such machines: bfloat16 at
0.5-0.63x float32 on one, faster on another), so a few timed steps of a small DCGAN in both dtypes decide;
that verdict is cached per CPU model, flags and TensorFlow version in ~/.cache/tfgan_cifar/precision.json.
"""
import json
import os
import time

BFLOAT16, FLOAT32 = "mixed_bfloat16", "float32"
MIN_SPEEDUP = 1.1  # a timed bfloat16 step must be at least this much faster to be chosen
# TFGAN_CIFAR_CACHE moves the cache folder (the tests point it at a temporary one).
CACHE = os.path.join(os.environ.get("TFGAN_CIFAR_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                                          "tfgan_cifar"), "precision.json")


def cpu_features(path="/proc/cpuinfo"):
    """(model name, set of feature flags) of the first CPU; ('unknown', set()) where it cannot be read."""
    model, features = "unknown", set()
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown":
                    model = value.strip()
                elif key == "flags":
                    features = set(value.split())
                    break
    except OSError:
        pass
    return model, features


def gpu_capabilities():
    """[(name, (major, minor))] of the visible GPUs."""
    import tensorflow as tf
    found = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        found.append((details.get("device_name", device.name), tuple(details.get("compute_capability", (0, 0)))))
    return found


def choose(cpu=None, gpus=None, timer=None, cache_path=None):
    """(policy, reason). `cpu` = (model, flags), `gpus` = [(name, capability)] and `timer` () -> bfloat16
    speed-up over float32 default to probing this machine (tests pass fakes)."""
    gpus = gpu_capabilities() if gpus is None else gpus
    if gpus:
        slow = [name for name, capability in gpus if capability < (8, 0)]
        if slow:
            return FLOAT32, f"GPU {slow[0]} has no bfloat16 tensor cores (compute capability < 8.0)"
        name, (major, minor) = gpus[0]
        return BFLOAT16, f"GPU {name} has bfloat16 tensor cores (compute capability {major}.{minor})"
    model, features = cpu_features() if cpu is None else cpu
    if "amx_bf16" in features:
        return BFLOAT16, f"CPU {model} has AMX-BF16 matrix units"
    if "avx512_bf16" not in features:
        return FLOAT32, f"CPU {model} has no bfloat16 units (neither AMX-BF16 nor AVX512-BF16)"
    speedup = _cached_speedup(model, features, timer or timed_speedup, cache_path or CACHE)
    policy = BFLOAT16 if speedup >= MIN_SPEEDUP else FLOAT32
    return policy, (f"CPU {model} has AVX512-BF16 but no AMX; timed steps of a small DCGAN ran bfloat16 at "
                    f"{speedup:.2f}x float32 (chosen at >= {MIN_SPEEDUP}x)")


def cache_key(model, features):
    """What a timed verdict depends on: the CPU model, its vector features and the TensorFlow build."""
    import tensorflow as tf
    return f"{model} | {' '.join(sorted(f for f in features if 'bf16' in f or 'avx512' in f))} | TF {tf.__version__}"


def _cached_speedup(model, features, timer, cache_path):
    key = cache_key(model, features)
    try:
        with open(cache_path) as f:
            cache = json.load(f)
    except (OSError, ValueError):
        cache = {}
    if not isinstance(cache.get(key), (int, float)):
        cache[key] = round(float(timer()), 3)
        try:
            os.makedirs(os.path.dirname(cache_path), exist_ok=True)
            with open(cache_path + ".tmp", "w") as f:
                json.dump(cache, f, indent=1)
            os.replace(cache_path + ".tmp", cache_path)
        except OSError:
            pass  # an unwritable cache only means timing again next time
    return cache[key]


def timed_speedup(batch_size=64, steps=8, repeats=3):
    """float32 time / bfloat16 time of a train step of a width-32 DCGAN pair at batch 64 (best of
    `repeats`, alternating, after a warm-up step each)."""
    import keras
    import tensorflow as tf

    from tfgan_cifar.lib import networks

    def make_step(policy):
        previous = keras.mixed_precision.dtype_policy()
        keras.mixed_precision.set_dtype_policy(policy)
        try:
            g, d = networks.dcgan_generator(100, 32, 32), networks.dcgan_discriminator(32, 32)
        finally:
            keras.mixed_precision.set_dtype_policy(previous)
        variables = g.trainable_variables + d.trainable_variables

        @tf.function
        def step(z, real):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(d(g(z, training=True), training=True)) - tf.reduce_mean(d(real, training=True))
            return tape.gradient(loss, variables)[0]
        return step

    z = tf.random.normal([batch_size, 100])
    real = tf.random.uniform([batch_size, 32, 32, 3], -1, 1)
    steps_by_policy = {policy: make_step(policy) for policy in (FLOAT32, BFLOAT16)}
    for step in steps_by_policy.values():  # trace and warm up
        step(z, real).numpy()
    best = {policy: float("inf") for policy in steps_by_policy}
    for _ in range(repeats):
        for policy, step in steps_by_policy.items():
            start = time.perf_counter()
            for _ in range(steps):
                out = step(z, real)
            out.numpy()
            best[policy] = min(best[policy], time.perf_counter() - start)
    return best[FLOAT32] / best[BFLOAT16]


def resolve(config):
    """Replace --precision=auto in `config` by the choice for this machine; log it once; keep the reason in
    config.precision_reason (saved in the run's config.json)."""
    if config.precision != "auto":
        return config
    config.precision, config.precision_reason = choose()
    print(f"precision: {config.precision} ({config.precision_reason}; --precision=float32 or mixed_bfloat16 to choose)")
    return config

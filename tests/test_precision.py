"""--precision=auto: the choice from faked device probes, the timed fallback and its cache, and a bfloat16
run on `shapes` that keeps losses finite and the export signature (float32 inputs, uint8 images)."""
import json

import numpy as np
import pytest

from tfgan_cifar.lib import precision

AMX_CPU = ("Intel Xeon Sapphire Rapids", {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
AVX512_BF16_CPU = ("AMD EPYC Genoa", {"avx512f", "avx512_bf16"})
OLD_CPU = ("Intel Xeon Broadwell", {"avx2", "fma"})


def never_timed():
    raise AssertionError("the timer must not run when the features decide")


@pytest.mark.parametrize("cpu, gpus, expected, reason", [
    (AMX_CPU, [], "mixed_bfloat16", "AMX-BF16"),
    (OLD_CPU, [], "float32", "no bfloat16 units"),
    (OLD_CPU, [("NVIDIA A100", (8, 0))], "mixed_bfloat16", "compute capability 8.0"),
    (AMX_CPU, [("Tesla V100", (7, 0))], "float32", "Tesla V100 has no bfloat16"),
    (OLD_CPU, [("NVIDIA A100", (8, 0)), ("Tesla T4", (7, 5))], "float32", "Tesla T4"),
])
def test_features_decide_without_timing(cpu, gpus, expected, reason, tmp_path):
    policy, why = precision.choose(cpu=cpu, gpus=gpus, timer=never_timed, cache_path=str(tmp_path / "c.json"))
    assert policy == expected and reason in why


@pytest.mark.parametrize("speedup, expected", [(1.42, "mixed_bfloat16"), (1.1, "mixed_bfloat16"),
                                               (1.05, "float32"), (0.6, "float32")])
def test_unsure_cpu_is_timed_and_the_verdict_cached(speedup, expected, tmp_path):
    cache = str(tmp_path / "precision.json")
    calls = []
    timer = lambda: calls.append(1) or speedup
    policy, why = precision.choose(cpu=AVX512_BF16_CPU, gpus=[], timer=timer, cache_path=cache)
    assert policy == expected and f"{speedup:.2f}x" in why and calls == [1]
    again, _ = precision.choose(cpu=AVX512_BF16_CPU, gpus=[], timer=never_timed, cache_path=cache)
    assert again == expected  # from the cache
    assert list(json.load(open(cache)).values()) == [speedup]
    # Another CPU model is timed again.
    precision.choose(cpu=("AMD EPYC Turin", AVX512_BF16_CPU[1]), gpus=[], timer=timer, cache_path=cache)
    assert calls == [1, 1]


def test_cpu_features_reads_proc_cpuinfo_format(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu avx512f avx512_bf16\n\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu\n")
    assert precision.cpu_features(str(info)) == ("AMD EPYC 9R14", {"fpu", "avx512f", "avx512_bf16"})
    assert precision.cpu_features(str(tmp_path / "missing")) == ("unknown", set())


def test_resolve_keeps_explicit_values_and_records_the_reason(monkeypatch):
    from tfgan_cifar.lib.config import RunConfig
    monkeypatch.setattr(precision, "choose", lambda: ("mixed_bfloat16", "CPU X has AMX-BF16 matrix units"))
    explicit = precision.resolve(RunConfig(precision="float32"))
    assert explicit.precision == "float32" and explicit.precision_reason == ""
    auto = precision.resolve(RunConfig())
    assert auto.precision == "mixed_bfloat16" and auto.precision_reason == "CPU X has AMX-BF16 matrix units"


@pytest.mark.slow
def test_bfloat16_training_on_shapes_keeps_losses_finite_and_the_export_signature(in_tmp):
    import tensorflow as tf

    from conftest import tiny_config
    from tfgan_cifar import train
    config = tiny_config("dcgan", precision="mixed_bfloat16", epochs=2, steps_per_epoch=6, fid_every=0,
                         run_dir=str(in_tmp / "run"), export_dir=str(in_tmp / "models"))
    gan, run_dir, path = train.train(config, verbose=0)
    assert gan.generator.layers[-2].compute_dtype == "bfloat16"  # the last transposed conv ran in bfloat16
    records = [json.loads(line) for line in open(f"{run_dir}/metrics.jsonl")]
    assert len(records) == 2 and all(np.isfinite(r[k]) for r in records for k in ("d_loss", "g_loss"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    (name, spec), = serve.structured_input_signature[1].items()
    assert (name, spec.dtype, spec.shape.as_list()) == ("z", tf.float32, [None, 100])
    images = serve(z=tf.random.normal([3, 100]))["images"]
    assert images.dtype == tf.uint8 and images.shape == (3, 32, 32, 3)
    assert json.load(open(f"{run_dir}/config.json"))["precision"] == "mixed_bfloat16"

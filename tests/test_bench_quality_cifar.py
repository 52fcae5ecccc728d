"""make bench-quality-cifar: the reference is the plain hand-written DCGAN the issue describes (no EMA,
no augmentation, float32, no tfgan_cifar code), it trains, and the recipe is dcgan's named preset."""
import inspect
import re

import numpy as np
import pytest

from tfgan_cifar import bench_quality_cifar as bq
from tfgan_cifar import data


def test_reference_is_a_plain_dcgan_independent_of_the_project():
    source = inspect.getsource(bq.reference_dcgan)
    for forbidden in (r"from tfgan_cifar", r"tfgan_cifar\.", r"\bema\b", r"use_ema", r"augment", r"bfloat16",
                      r"float16", r"jit_compile", r"SpectralNormalization"):
        assert not re.search(forbidden, source), forbidden
    for required in ("Adam(2e-4, beta_1=0.5)", "BatchNormalization", "GradientTape", "@tf.function",
                     "BinaryCrossentropy(from_logits=True)"):
        assert required in source, required
    assert bq.REFERENCE["ema"] is None and bq.REFERENCE["augmentation"] is None
    assert bq.REFERENCE["precision"] == "float32" and bq.REFERENCE["batch_size"] == 64


def test_reference_trains_within_its_budget_and_samples_images():
    images = data.make_shapes(256, seed=0).images
    generate, steps = bq.reference_dcgan(images, budget=2.0, width=8, batch_size=16)
    out = generate(np.random.default_rng(0).standard_normal((5, 100)).astype(np.float32))
    assert steps >= 1 and out.shape == (5, 32, 32, 3) and out.dtype == np.uint8


def test_recipe_is_dcgans_named_preset():
    from tfgan_cifar.errors import UsageError
    config = bq.recipe_config("cpu_fast", 600, "data", "/tmp/unused")
    assert config.model == "dcgan" and config.time_budget == 600 and config.batch_size == 64
    assert config.precision == "mixed_bfloat16" and config.ema == 0.999 and config.g_lr == 2e-4
    with pytest.raises(UsageError, match="not a preset of dcgan"):
        bq.recipe_config("turbo", 600, "data", "/tmp/unused")

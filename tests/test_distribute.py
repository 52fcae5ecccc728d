"""Scale and speed: tf.distribute (mirrored on 2 logical CPUs, 2 local multiworker processes), mixed
precision, the EMA generator and DiffAugment."""
import json
import os
import socket

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, run_forked, tiny_config
from tfgan_cifar.lib import augment, data
from tfgan_cifar import gans

WORKER = os.path.join(ROOT, "tests", "dist_worker.py")


@pytest.mark.parametrize("model", ["dcgan", "wgan_gp"])
def test_mirrored_step_equals_single_device_step(model, tmp_path):
    res = run_forked(WORKER, [WORKER, "mirrored", model, str(tmp_path / "out.npz")])
    assert res.returncode == 0, res.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    assert int(out["replicas"]) == 2
    np.testing.assert_allclose(out["mirrored_logs"], out["single_logs"], rtol=1e-5, atol=1e-5)
    assert float(out["max_update"]) > 1e-2  # the step moved the weights ...
    assert float(out["max_weight_diff"]) < 1e-5  # ... identically on one device and on two replicas


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_local_workers_train_and_agree_on_the_weights(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = []
    for index in range(2):
        os.makedirs(tmp_path / f"w{index}")
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(run_forked(WORKER, [WORKER, "multiworker", str(tmp_path / f"w{index}" / "out.npz")],
                                env=dict(TF_CONFIG=tf_config), background=True))
    for p in procs:
        res = p.result()
        assert res.returncode == 0, res.stderr[-3000:]
    a, b = (np.load(tmp_path / f"w{i}" / "out.npz") for i in range(2))
    assert int(a["step"]) == int(b["step"]) == 2
    arrays = [k for k in a.files if k.startswith("arr_")]
    assert len(arrays) > 20
    for k in arrays:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert os.path.exists(tmp_path / "w0" / "run" / "checkpoints" / "ckpt-2.index")  # the chief writes the run
    assert not os.path.exists(tmp_path / "w1" / "run")  # the other worker wrote to a scratch directory


def batch_of(config, n=16):
    return next(iter(data.make_pipeline(data.make_shapes(64, seed=3), n, shuffle=False)))


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_step_is_finite_and_penalty_is_float32(precision):
    import keras
    config = tiny_config("wgan_gp", precision=precision)
    gan = gans.build(config)
    gan.compile()
    assert keras.mixed_precision.dtype_policy().name == "float32"  # build restores the global policy
    assert gan.discriminator.layers[1].compute_dtype == precision.split("_")[1]
    real, labels = batch_of(config)
    logs = gan.train_step((real, labels))
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert int(gan.nonfinite_updates.numpy()) == 0
    fake = gan.generate(gan.sample_z(16), training=True)
    penalty = gan.lipschitz_penalty(lambda x: gan.discriminate(x), real, fake)
    assert penalty.dtype == tf.float32 and np.isfinite(float(penalty))
    assert gan.generate(gan.sample_z(2)).dtype == tf.float32


def test_ema_weights_are_the_analytic_average_of_the_history(tmp_path):
    decay, steps = 0.9, 5
    config = tiny_config("dcgan", ema=decay)
    gan = gans.build(config)
    gan.compile()
    batch = batch_of(config)
    history = []
    for _ in range(steps):
        gan.train_step(batch)
        history.append([v.numpy().copy() for v in gan.generator.trainable_variables])
    # Keras starts the average at the first updated weights: a_1 = w_1, a_k = d a_(k-1) + (1 - d) w_k.
    weights = [decay ** (steps - 1)] + [(1 - decay) * decay ** (steps - k) for k in range(2, steps + 1)]
    expected = [sum(w * h[i] for w, h in zip(weights, history)) for i in range(len(history[0]))]
    sampler = gan.sampler()
    assert sampler is gan.ema_generator
    for got, want, raw in zip(sampler.trainable_variables, expected, history[-1]):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-7)
    assert any(not np.allclose(v.numpy(), raw) for v, raw in zip(sampler.trainable_variables, history[-1]))
    z = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
    served = gan.serving_function()(tf.constant(z))["images"].numpy()  # export samples the EMA generator
    from tfgan_cifar.lib.images import to_uint8
    np.testing.assert_array_equal(served, to_uint8(gan.generate(z, generator=gan.ema_generator).numpy()))
    from tfgan_cifar.lib import savedmodel
    for raw, generator in ((False, gan.ema_generator), (True, gan.generator)):  # both can be exported
        path = savedmodel.save_generator(gan, str(tmp_path / f"raw{raw}"), savedmodel.metadata(gan, ["c"] * 10, 0, steps), raw=raw)
        loaded, meta = savedmodel.load(path)
        assert meta["weights"] == ("trained" if raw else "ema") and meta["ema"] == decay
        np.testing.assert_array_equal(savedmodel.generate(loaded, z), to_uint8(gan.generate(z, generator=generator).numpy()))


def test_translation_moves_content_by_the_given_pixels():
    image = np.zeros((2, 8, 8, 1), np.float32)
    image[:, 2, 3, 0] = 1.0
    moved = augment.translate(tf.constant(image), tf.constant([1, -2]), tf.constant([2, 3])).numpy()
    assert moved[0, 3, 5, 0] == 1.0 and moved.sum(axis=(1, 2, 3)).tolist() == [1.0, 1.0]
    assert moved[1, 0, 6, 0] == 1.0
    gone = augment.translate(tf.constant(image), tf.constant([7, 0]), tf.constant([0, 0])).numpy()
    assert gone[0].sum() == 0  # shifted out of the frame, zeros shifted in


def test_random_translation_stays_within_an_eighth_of_the_size():
    image = np.zeros((64, 32, 32, 1), np.float32)
    image[:, 16, 16, 0] = 1.0
    rng = tf.random.Generator.from_seed(0)
    moved = augment.translation(tf.constant(image), lambda shape: rng.uniform(shape)).numpy()
    ys, xs = np.nonzero(moved[..., 0])[1:]
    assert len(ys) == 64 and np.all(np.abs(ys - 16) <= 4) and np.all(np.abs(xs - 16) <= 4)
    assert len(set(zip(ys.tolist(), xs.tolist()))) > 10  # shifts vary per image


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_diffaugment_is_differentiable_and_reaches_the_generator(policy):
    config = tiny_config("dcgan", diffaugment=policy)
    gan = gans.build(config)
    z = gan.sample_z(8)
    with tf.GradientTape() as tape:
        fake = gan.generate(z, training=True)
        augmented = augment.diff_augment(fake, augment.parse_policy(policy), lambda s: tf.random.uniform(s, seed=1))
        score = tf.reduce_mean(gan.discriminate(fake, training=True))
    assert not np.allclose(augmented.numpy(), fake.numpy())  # the policy changes what D sees
    grads = tape.gradient(score, gan.generator.trainable_variables)
    assert all(g is not None for g in grads) and sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 0


def test_ema_generator_batch_norm_statistics_are_re_estimated_for_the_averaged_weights():
    import keras

    from tfgan_cifar.gans.sampling import RECALIBRATION_BATCHES
    config = tiny_config("dcgan", ema=0.9)
    gan = gans.build(config)
    gan.compile()
    for _ in range(3):
        gan.train_step(batch_of(config))
    ema = gan.sampler()
    norms = [l for l in ema.layers if isinstance(l, keras.layers.BatchNormalization)]
    raw_norms = [l for l in gan.generator.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(norms) == 3 and all(l.momentum == 0.9 for l in norms)  # momentum restored
    for layer, raw in zip(norms, raw_norms):
        # Independent: the BN input under the averaged weights, over the same fixed-seed latent batches.
        feed = keras.Model(ema.inputs, layer.input)
        acts = [feed(tf.random.stateless_normal([64, 100], seed=[7, i]), training=True).numpy()
                for i in range(RECALIBRATION_BATCHES)]
        axes = tuple(range(acts[0].ndim - 1))
        means = np.mean([a.mean(axis=axes) for a in acts], axis=0)
        variances = np.mean([a.var(axis=axes) for a in acts], axis=0)
        np.testing.assert_allclose(layer.moving_mean.numpy(), means, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(layer.moving_variance.numpy(), variances, rtol=1e-3, atol=1e-5)
        assert not np.allclose(layer.moving_mean.numpy(), raw.moving_mean.numpy(), rtol=1e-3, atol=1e-5)


def test_sketch2img_ema_statistics_are_re_estimated_on_its_sketch_bank():
    import dataclasses

    import keras

    from tfgan_cifar.lib import sketch
    config = tiny_config("sketch2img", ema=0.9)
    gan = gans.build(config)
    gan.compile()
    shapes = data.make_shapes(64, seed=0)
    shapes = dataclasses.replace(shapes, extra=sketch.sketches_of(data.resize_uint8(shapes.images,
                                                                                        config.image_size)))
    gan.train_step(next(iter(data.make_pipeline(shapes, 16, image_size=config.image_size, shuffle=False))))
    norm_means = lambda g: [l.moving_mean.numpy().copy() for l in g.layers
                            if isinstance(l, keras.layers.BatchNormalization)]
    raw = norm_means(gan.generator)
    # No sketches to feed yet: the averaged generator keeps the trained one's statistics.
    for a, b in zip(norm_means(gan.sampler()), raw):
        np.testing.assert_array_equal(a, b)
    gan.use_data(shapes)
    assert not all(np.allclose(a, b) for a, b in zip(norm_means(gan.sampler()), raw))
    images, labels = gan.sample_images(8)
    assert images.shape == (8, config.image_size, config.image_size, 3) and labels.shape == (8,)

"""Subprocess side of test_distribute.py (tf.distribute needs device setup before TensorFlow starts).

    python dist_worker.py mirrored MODEL OUT.npz   # one step on 2 logical CPUs vs one device, same batch
    python dist_worker.py multiworker OUT.npz      # one worker of a TF_CONFIG cluster: train 2 steps
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def weights(gan):
    return [v.numpy() for v in gan.generator.weights + gan.discriminator.weights]


def mirrored(model, out):
    import keras
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from conftest import tiny_config
    from tfgan_cifar.lib import data
    from tfgan_cifar import gans, train

    # Batch 16: 8 per replica. Two critic steps exercise the critic loop (and its penalty) at half the tracing cost.
    config = tiny_config(model, sync_bn=True, **({"n_critic": 2} if "n_critic" in gans.VARIANTS[model].PRESET else {}))
    batch = next(iter(data.make_pipeline(data.make_shapes(64, seed=3), 16, shuffle=False)))
    results = {}
    for name, strategy in (("single", tf.distribute.OneDeviceStrategy("/cpu:0")),
                           ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
        keras.utils.set_random_seed(0)  # same initial weights and seed-generator state
        gan, *_ = train.build(config, 10, strategy)
        dist_batch = strategy.experimental_distribute_values_from_function(
            lambda ctx: tuple(tf.split(t, ctx.num_replicas_in_sync)[ctx.replica_id_in_sync_group] for t in batch))
        before = weights(gan)

        @tf.function
        def step(inputs):
            logs = strategy.run(gan.train_step, args=(inputs,))
            return {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

        logs = step(dist_batch)
        results[name] = (np.array([float(logs[k]) for k in sorted(logs)]), before, weights(gan),
                         strategy.num_replicas_in_sync)
    (single_logs, start, single_w, _), (mirror_logs, _, mirror_w, replicas) = results["single"], results["mirrored"]
    np.savez(out, replicas=replicas, single_logs=single_logs, mirrored_logs=mirror_logs,
             max_weight_diff=max(float(np.max(np.abs(a - b))) for a, b in zip(single_w, mirror_w)),
             max_update=max(float(np.max(np.abs(a - b))) for a, b in zip(single_w, start)))


def multiworker(out):
    from conftest import tiny_config
    from tfgan_cifar import train
    root = os.path.dirname(out)
    config = tiny_config("dcgan", strategy="multiworker", sync_bn=True, steps_per_epoch=2, fid_every=0,
                         run_dir=os.path.join(root, "run"), export_dir=os.path.join(root, "models"))
    gan, run_dir, path = train.train(config, verbose=0)
    np.savez(out, *weights(gan), step=gan.g_optimizer.iterations.numpy())


if __name__ == "__main__":
    if sys.argv[1] == "mirrored":
        mirrored(sys.argv[2], sys.argv[3])
    else:
        multiworker(sys.argv[2])

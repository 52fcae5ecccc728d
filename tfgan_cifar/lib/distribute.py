"""tf.distribute for training: the strategy for --strategy, who is chief, and a fit-like loop for
MultiWorkerMirroredStrategy, where Keras 3's `fit` fails (keras-team/keras#20585).

What makes a variant's train_step correct under a strategy lives in gans/base.py: GAN.step scales
gradients by 1/replicas (the optimizer sums them) and agrees on skipping non-finite updates across
replicas; GAN.draw slices global-batch random draws per replica; --sync_bn makes batch norm global.
"""
import json
import os

from tfgan_cifar.lib.errors import UsageError


def make_strategy(name):
    import tensorflow as tf
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":  # every visible GPU (or the one CPU)
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        try:
            cluster = json.loads(os.environ.get("TF_CONFIG", ""))["cluster"]
        except (ValueError, KeyError, TypeError):
            raise UsageError("--strategy=multiworker reads the cluster from TF_CONFIG, which is unset or not valid "
                             "JSON with a 'cluster' key (see the README's two-worker example)")
        if not cluster.get("worker") and not cluster.get("chief"):
            raise UsageError("TF_CONFIG's cluster lists no workers")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as e:
            raise UsageError(f"--strategy=tpu: no TPU found ({str(e).splitlines()[0]})")
        return tf.distribute.TPUStrategy(resolver)
    raise UsageError(f"unknown --strategy {name!r}")


def is_chief(strategy):
    """True on the one worker that writes the run directory and exports (every worker of a one-host run)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def custom_fit(gan, dataset, strategy, epochs, initial_epoch, steps_per_epoch, callbacks, verbose):
    """`fit` for strategies Keras 3's fit does not support: the model's own train_step through
    strategy.run in a tf.function, with the same callbacks, epochs and stop_training semantics."""
    import keras
    import tensorflow as tf

    callback_list = keras.callbacks.CallbackList(callbacks, model=gan, add_progbar=verbose != 0, verbose=verbose,
                                                 epochs=epochs, steps=steps_per_epoch)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    @tf.function
    def train_step(iterator):
        logs = strategy.run(gan.train_step, args=(next(iterator),))
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

    gan.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        gan.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        logs = {}
        for batch in range(steps_per_epoch):
            callback_list.on_train_batch_begin(batch)
            logs = {name: float(value) for name, value in train_step(iterator).items()}
            callback_list.on_train_batch_end(batch, logs)
            if gan.stop_training:
                break
        callback_list.on_epoch_end(epoch, dict(logs))
        if gan.stop_training:
            break
    callback_list.on_train_end()

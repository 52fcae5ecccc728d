"""Classifier two-sample test (Lopez-Paz and Oquab, 2017): a judge that shares nothing with the evaluator.

A small CNN, trained from scratch on every call, learns to tell real images from generated ones; its accuracy
on images it did not train on is the statistic. 0.5 means it cannot tell them apart (the two sets look alike
to it); 1.0 means every image gives itself away. Under the null hypothesis (both sets from one
distribution) the held-out accuracy is about normal with mean 0.5 and deviation sqrt(0.25 / held-out images),
which gives the p-value.
"""
import math

import numpy as np

EPOCHS = 5  # over the training part: at N = 10,000 a side, 5 epochs over 8,000 + 8,000 images (625 steps of 128)
MIN_STEPS = 150  # small sets train for this many steps at least, enough to tell noise from shapes (tested)
TRAIN_SHARE = 0.8  # of each set; the rest is held out
WIDTHS = (32, 64, 128)


def build(image_size):
    """Three stride-2 3x3 convolutions with LeakyReLU, global average pooling, one logit (real)."""
    import keras
    from keras import layers
    image = keras.Input((image_size, image_size, 3))
    h = image
    for width in WIDTHS:
        h = layers.LeakyReLU(0.2)(layers.Conv2D(width, 3, 2, padding="same")(h))
    logit = layers.Dense(1, dtype="float32")(layers.GlobalAveragePooling2D()(h))
    return keras.Model(image, logit, name="two_sample_critic")


_critics = {}  # (image size, dtype policy) -> (compiled critic, {seed: its initial weights}, its optimizer's state)


def fresh_critic(image_size, seed):
    """The critic as `build` makes it after keras.utils.set_random_seed(seed), compiled with a new Adam. Built
    once per image size and dtype policy in a process and reset to that state on later calls, so that Keras
    traces its training and prediction functions once (a second or more a call, most of a small evaluation's
    test)."""
    import keras
    key = (image_size, keras.mixed_precision.dtype_policy().name)  # built under the policy of its first call
    if key not in _critics:
        keras.utils.set_random_seed(seed)
        model = build(image_size)
        model.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(from_logits=True))
        model.optimizer.build(model.trainable_variables)
        _critics[key] = (model, {seed: model.get_weights()}, [v.numpy() for v in model.optimizer.variables])
    model, initial, optimizer_state = _critics[key]
    if seed not in initial:
        keras.utils.set_random_seed(seed)
        initial[seed] = build(image_size).get_weights()
    model.set_weights(initial[seed])
    for variable, value in zip(model.optimizer.variables, optimizer_state):
        variable.assign(value)
    return model


def c2st(real_uint8, fake_uint8, epochs=EPOCHS, min_steps=None, seed=0, batch_size=128):
    """{'c2st': held-out accuracy, 'c2st_p': its one-sided p-value under the null, 'c2st_held_out': images}
    for two uint8 image sets; each is cut to the smaller one's size so that chance is 0.5. The critic trains
    for `epochs` over the training part, or more epochs where that is under `min_steps` batches (MIN_STEPS)."""
    import tensorflow as tf

    from tfgan_cifar.lib.images import to_float
    rng = np.random.default_rng(seed)
    n = min(len(real_uint8), len(fake_uint8))
    if n < 10:
        raise ValueError(f"the two-sample test needs at least 10 images a side, got {n}")
    real = np.asarray(real_uint8)[rng.permutation(len(real_uint8))[:n]]
    fake = np.asarray(fake_uint8)[rng.permutation(len(fake_uint8))[:n]]
    cut = int(n * TRAIN_SHARE)
    split = lambda a, b: (np.concatenate([a, b]), np.concatenate([np.ones(len(a)), np.zeros(len(b))]))
    train_x, train_y = split(real[:cut], fake[:cut])
    test_x, test_y = split(real[cut:], fake[cut:])
    model = fresh_critic(real.shape[1], seed)
    # One pass over `epochs` shuffled copies of the training part (more where that is under `min_steps` batches),
    # drawn as indices: small sets need many epochs, and Keras's fixed cost per epoch was most of their time.
    min_steps = MIN_STEPS if min_steps is None else min_steps
    epochs = max(epochs, -(-min_steps // -(-len(train_x) // batch_size)))
    order = np.concatenate([rng.permutation(len(train_x)) for _ in range(epochs)])
    x, y = tf.constant(to_float(train_x)), tf.constant(train_y.astype(np.float32))
    batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).map(
        lambda i: (tf.gather(x, i), tf.gather(y, i)))
    model.fit(batches, epochs=1, verbose=0, shuffle=False)
    logits = model.predict(to_float(test_x), batch_size=500, verbose=0)[:, 0]
    accuracy = float(np.mean((logits > 0) == (test_y > 0.5)))
    z = (accuracy - 0.5) / math.sqrt(0.25 / len(test_y))
    return dict(c2st=accuracy, c2st_p=0.5 * math.erfc(z / math.sqrt(2)), c2st_held_out=len(test_y))

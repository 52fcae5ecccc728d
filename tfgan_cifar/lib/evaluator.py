"""The project's own feature extractor: a CNN classifier trained on the chosen dataset. Offline it replaces
Inception for Fréchet distance and classifier score, and it measures the class accuracy of conditional
samples. Trained by `python -m tfgan_cifar.train_evaluator` (make evaluator). Two architectures:

  airbench  the strong one (lib/airbench.py, after airbench94): 256-d features; CIFAR-10 and image folders
  small     a compact CNN, 128-d features, trained with Adam in a minute: `shapes` and the tests
"""
import json
import os
import time

from tfgan_cifar.lib.errors import UsageError
from tfgan_cifar.lib.images import map_batches

FEATURES_LAYER = "features"


def evaluator_dir(dataset, image_size, root="models/evaluator"):
    name = dataset.replace("folder:", "folder_").replace(os.sep, "_").strip("_")
    return os.path.join(root, f"{name}_{image_size}")


SMALL_WIDTHS = (32, 64, 128)


def build_classifier(image_size, num_classes, widths=SMALL_WIDTHS):
    """Three conv stages of `widths` channels (Conv-BN-ReLU x2, then pool), global pooling, a 128-d feature
    layer, logits. Random translations and horizontal flips are active only in training."""
    import keras
    from keras import layers
    image = keras.Input((image_size, image_size, 3), name="image")  # float in [-1, 1]
    h = layers.RandomTranslation(0.1, 0.1, fill_mode="reflect")(image)
    h = layers.RandomFlip("horizontal")(h)
    for stage, channels in enumerate(widths):
        for _ in range(2):
            h = layers.ReLU()(layers.BatchNormalization(momentum=0.9)(layers.Conv2D(channels, 3, padding="same",
                                                                        use_bias=False)(h)))
        h = layers.MaxPooling2D()(h) if stage < 2 else layers.GlobalAveragePooling2D()(h)
    features = layers.Dense(128, activation="relu", name=FEATURES_LAYER)(h)
    logits = layers.Dense(num_classes, name="logits")(layers.Dropout(0.2)(features))
    return keras.Model(image, logits, name="evaluator")


ARCHITECTURES = ("airbench", "small")
EPOCHS = dict(airbench=16, small=3)  # airbench: 16 x 40,083 CIFAR-10 images, 22-35 minutes on 2 AMD EPYC cores
BATCH_SIZES = dict(airbench=1024, small=128)  # airbench94's batch; the small CNN's with Adam


def default_architecture(dataset):
    return "small" if dataset == "shapes" else "airbench"


class Evaluator:
    """Features and logits of uint8 images, in batches (bounded memory)."""

    def __init__(self, model, meta, path=None):
        import keras
        import tensorflow as tf
        self.model, self.meta, self.path = model, meta, path
        self.both = tf.function(keras.Model(model.inputs, [model.get_layer(FEATURES_LAYER).output, model.output]))

    def __call__(self, images_uint8, batch_size=500, progress=False):
        import tensorflow as tf
        size = self.meta["image_size"]

        def features_and_logits(x):
            if x.shape[1] != size:
                x = tf.image.resize(x, (size, size), antialias=True)
            return self.both(x, training=False)
        return map_batches(features_and_logits, images_uint8, batch_size, progress)


def train(dataset="shapes", data_dir="data", image_size=32, epochs=None, batch_size=None, examples=20000, seed=0,
          out_dir=None, verbose=2, architecture=None, widths=None):
    """Train on the train split without its reference part, measure the test split, save model.keras +
    evaluator.json (accuracy, training seconds, CPU); return an Evaluator. `epochs`, `batch_size` and the three
    conv groups' `widths` default to the architecture's."""
    import keras
    import numpy as np

    from tfgan_cifar.lib import data, images, precision
    architecture = architecture or default_architecture(dataset)
    if architecture not in ARCHITECTURES:
        raise UsageError(f"--architecture must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}")
    epochs = epochs or EPOCHS[architecture]
    keras.utils.set_random_seed(seed)
    train_set = data.evaluator_part(data.load(dataset, "train", data_dir, image_size, examples=examples, seed=seed))
    test_set = data.load(dataset, "test", data_dir, image_size, examples=examples, seed=seed)
    classes = len(train_set.class_names)
    meta = dict(dataset=dataset, image_size=image_size, class_names=list(train_set.class_names),
                architecture=architecture, epochs=epochs, test_images=len(test_set),
                trained_on=f"train split without its reference part ({len(train_set)} images)",
                reference_held_out=True, cpu=precision.cpu_features()[0])
    batch_size = batch_size or BATCH_SIZES[architecture]
    if len(train_set) < batch_size:
        raise UsageError(f"{len(train_set)} images make no full batch of {batch_size}: use a smaller "
                         f"--evaluator_batch_size or more images")
    if architecture == "small":
        start = time.perf_counter()
        model = _fit_small(train_set, image_size, classes, epochs, batch_size, seed, verbose, widths or SMALL_WIDTHS)
        meta.update(train_seconds=time.perf_counter() - start, precision="float32")
    else:
        from tfgan_cifar.lib import airbench
        policy, _ = precision.choose()
        model, seconds = airbench.fit(train_set.images, train_set.labels, classes, epochs, batch_size, seed, policy,
                                      features_name=FEATURES_LAYER, progress=verbose > 0,
                                      widths=widths or airbench.WIDTHS)
        tta = airbench.predict_logits(model, test_set.images, tta=True)
        meta.update(train_seconds=seconds, precision=policy,
                    test_accuracy_tta=float(np.mean(tta.argmax(1) == test_set.labels)))
    evaluator = Evaluator(model, meta)
    logits = evaluator(test_set.images)[1]  # as the judge sees images: one plain forward pass in float32
    meta.update(batch_size=batch_size, test_accuracy=float(np.mean(logits.argmax(1) == test_set.labels)),
                train_seconds=round(meta["train_seconds"], 1), weights_sha256=weights_sha256(model))
    out_dir = out_dir or evaluator_dir(dataset, image_size)
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, ".model.tmp.keras")
    model.save(tmp)
    os.replace(tmp, os.path.join(out_dir, "model.keras"))
    images.atomic_write_bytes(os.path.join(out_dir, "evaluator.json"), json.dumps(meta, indent=2).encode())
    evaluator.path = out_dir
    return evaluator


def weights_sha256(model):
    """The digest of a model's weights, in order: the same training on the same kind of CPU gives the same one."""
    import hashlib

    import numpy as np
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight, np.float32).tobytes())
    return digest.hexdigest()


def _fit_small(train_set, image_size, classes, epochs, batch_size, seed, verbose, widths):
    import keras

    from tfgan_cifar.lib import data
    model = build_classifier(image_size, classes, widths)
    steps = epochs * (len(train_set) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, max(steps, 1))
    model.compile(keras.optimizers.Adam(schedule), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(data.make_pipeline(train_set, batch_size, image_size, seed=seed, repeat=True), epochs=epochs,
              steps_per_epoch=len(train_set) // batch_size, verbose=verbose, shuffle=False)
    return model


def load(path):
    import keras

    from tfgan_cifar.lib import airbench  # noqa: F401 -- registers its layer for loading
    model_path, meta_path = os.path.join(path, "model.keras"), os.path.join(path, "evaluator.json")
    if not (os.path.exists(model_path) and os.path.exists(meta_path)):
        raise UsageError(f"no evaluator at {path!r}; train one with: make evaluator DATASET=...")
    with open(meta_path) as f:
        meta = json.load(f)
    return Evaluator(keras.saving.load_model(model_path, safe_mode=True), meta, path)


def is_current(path):
    """An evaluator at `path` trained without the metrics' reference images (see data.reference_part)."""
    try:
        with open(os.path.join(path, "evaluator.json")) as f:
            return bool(json.load(f).get("reference_held_out")) and os.path.exists(os.path.join(path, "model.keras"))
    except (OSError, ValueError):
        return False


def load_or_train(dataset, data_dir="data", image_size=32, root="models/evaluator", **train_kwargs):
    path = evaluator_dir(dataset, image_size, root)
    if is_current(path):
        return load(path)
    return train(dataset, data_dir, image_size, out_dir=path, **train_kwargs)

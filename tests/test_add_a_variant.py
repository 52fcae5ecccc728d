"""docs/ARCHITECTURE.md's "Add a variant" example, whole: a variant whose generator needs an input no other variant has
(an 8x8 copy of the image: super-resolution as a GAN) is written in this one file -- its inputs, how the data,
sampling and evaluation make them, its networks and its critic setup -- and then trains, exports, samples and
evaluates through the unchanged train, savedmodel and evaluate code."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from tfgan_cifar import gans
from tfgan_cifar.gans.base import LATENT
from tfgan_cifar.gans.wasserstein import GradientPenaltyGAN
from tfgan_cifar.lib import data, networks
from tfgan_cifar.lib.images import to_uint8


def shrink(images_uint8, size=8):
    """The data helper: uint8 [N, S, S, 3] -> uint8 [N, 8, 8, 3] (antialiased)."""
    return tf.cast(tf.round(tf.image.resize(images_uint8, (size, size), antialias=True)), tf.uint8).numpy()


class LowRes2Img(GradientPenaltyGAN):
    """G(z, an 8x8 copy of the image) -> the 32x32 image; a WGAN-GP critic on the image."""
    INPUTS = {"z": LATENT, "lowres": (tf.float32, lambda gan: [None, 8, 8, 3])}  # also the export's, by name
    PRESET = dict(nz=16, width=16, g_lr=1e-4, d_lr=1e-4, beta1=0.0, beta2=0.9, n_critic=1, gp_weight=10.0,
                  norm="layer")
    SUMMARY = "Wasserstein + GP; G: z and an 8x8 copy of the image -> 32x32"

    # -- where its input comes from: training data, sampling, evaluation --------------------------------------
    @classmethod
    def prepare_data(cls, image_set, split, config):
        return dataclasses.replace(image_set, extra=shrink(image_set.images))  # the pipeline yields it in [0, 1]

    @classmethod
    def evaluation_inputs(cls, meta, held_out, n, seed=0):
        z = np.random.default_rng(seed).standard_normal((len(held_out), meta["nz"])).astype(np.float32)
        lowres = shrink(held_out.images).astype(np.float32) / 255.0
        return dict(z=z, lowres=lowres), None, held_out.images  # each sample should reproduce its image

    @classmethod
    def sampling_inputs(cls, meta, n, seed=0, labels="", source="", per_source=1):
        held_out = data.random_subset(data.load(meta["dataset"], "test"), n, seed)  # shrunk test images
        return cls.evaluation_inputs(meta, held_out, n, seed)[0]

    # -- its networks and what they are given --------------------------------------------------------------
    def build_generator(self):
        z, lowres = keras.Input((self.nz,), name="z"), keras.Input((8, 8, 3), name="lowres")
        h = layers.Concatenate()([layers.Reshape((8, 8, 1))(layers.Dense(64)(z)), lowres])
        for _ in range(2):  # 8 -> 16 -> 32
            h = layers.ReLU()(layers.Conv2DTranspose(self.config.width, 4, 2, "same")(h))
        image = layers.Conv2D(3, 3, padding="same", activation="tanh", dtype="float32")(h)
        return keras.Model([z, lowres], image, name="generator")

    def build_discriminator(self):
        return networks.dcgan_discriminator(self.image_size, self.config.width, norm=self.config.norm)

    def generator_inputs(self, z, lowres=None):
        return [tf.convert_to_tensor(z, tf.float32), tf.convert_to_tensor(lowres, tf.float32)]

    def critic_setup(self, batch):  # the Wasserstein loop of wasserstein.py does the rest
        real, _, lowres = batch
        make_fake = lambda: self.generate(self.sample_z(tf.shape(real)[0]), lowres, training=True)
        return real, self.discriminate, make_fake

    def grid_inputs(self, batch, classes=None):  # the per-epoch grid: 8 low-resolution copies, 8 z each
        z = np.random.default_rng(1234).standard_normal((64, self.nz)).astype(np.float32)
        return dict(z=z, labels=np.repeat(batch[2][:8], 8, axis=0), rows=8)


@pytest.fixture
def lowres2img():
    gans.register("lowres2img")(LowRes2Img)
    yield LowRes2Img
    del gans.VARIANTS["lowres2img"]


def test_a_variant_with_a_new_input_trains_exports_samples_and_evaluates(lowres2img, evaluator_root, tmp_path,
                                                                           monkeypatch):
    from tfgan_cifar import evaluate, train
    from tfgan_cifar.lib import savedmodel
    config = gans.make_config("lowres2img", dataset="shapes", examples=256, batch_size=16, epochs=1, fid_every=0,
                              precision="float32", run_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "models"))
    gan, run_dir, path = train.train(config, verbose=0)
    assert (tmp_path / "run" / "samples" / "epoch_0001.png").exists()

    loaded, meta = savedmodel.load(path)
    assert meta["inputs"] == ["z", "lowres"]
    assert set(loaded.signatures["serving_default"].structured_input_signature[1]) == {"z", "lowres"}
    inputs = lowres2img.sampling_inputs(meta, 6, seed=1)
    np.testing.assert_array_equal(savedmodel.generate(loaded, inputs),
                                  to_uint8(gan.generate(inputs["z"], inputs["lowres"]).numpy()))

    monkeypatch.chdir(evaluator_root)
    # the worker's data folder: its reference statistics are computed once for every test that evaluates there
    result = evaluate.evaluate(path, n=200, data_dir=str(evaluator_root / "data"), progress=False)
    assert result["samples"] == 200 and {"fid", "l1", "ssim"} <= set(result["generated"])
    assert 0 < result["generated"]["l1"] < 1

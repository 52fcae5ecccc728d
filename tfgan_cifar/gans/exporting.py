"""What a GAN exports: the SavedModel's serving function over the named INPUTS, and the variant's metadata.
A mixin of gans/base.py's GAN (lib/savedmodel.py writes the SavedModel)."""
import tensorflow as tf

from tfgan_cifar.lib.images import to_uint8


class Exporting:
    def input_signature(self):
        """TensorSpecs of the generator's INPUTS, by name (the export's serving_default takes these)."""
        return [tf.TensorSpec(shape(self), dtype, name=name) for name, (dtype, shape) in self.INPUTS.items()]

    def serving_function(self, generator=None):
        """A tf.function for the SavedModel's serving_default: the named INPUTS -> {'images': uint8}, from
        `generator` (default: sampler(), i.e. the EMA generator with --ema)."""
        generator = generator or self.sampler()

        @tf.function(input_signature=self.input_signature())
        def serve(*inputs):
            return {"images": to_uint8(generator(list(inputs) if len(inputs) > 1 else inputs[0], training=False))}
        return serve

    def export_metadata(self):
        """Variant-specific entries of the export's metadata."""
        return {}

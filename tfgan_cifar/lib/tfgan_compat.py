"""TF-GAN's eval and losses modules, loaded without the package's top-level `__init__`.

`import tensorflow_gan` fails on current TensorFlow because its `__init__` imports the removed
`tf.estimator`. The `python.eval` and `python.losses` sub-packages do not need it, so we register
empty parent packages pointing at the installed directories and import the two sub-modules directly.
`eval` is loaded on first use: it imports tensorflow-probability, which takes seconds.
"""
import importlib
import importlib.util
import os
import sys
import types


def _root():
    module = sys.modules.get("tensorflow_gan")
    if module is not None:
        return list(module.__path__)[0]
    spec = importlib.util.find_spec("tensorflow_gan")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("tensorflow-gan is not installed: pip install tensorflow-gan")
    return list(spec.submodule_search_locations)[0]


def _load(submodule):
    root = _root()
    for name, path in (("tensorflow_gan", root), ("tensorflow_gan.python", os.path.join(root, "python"))):
        if name not in sys.modules:  # keep a real package if a future TF-GAN imports cleanly
            stub = types.ModuleType(name)
            stub.__path__ = [path]
            sys.modules[name] = stub
    return importlib.import_module(f"tensorflow_gan.python.{submodule}")


losses_impl = _load("losses.losses_impl")


def __getattr__(name):
    if name == "eval":  # mirrors `tfgan.eval`
        module = _load("eval")
        globals()["eval"] = module
        return module
    raise AttributeError(name)

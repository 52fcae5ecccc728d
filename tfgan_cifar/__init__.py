"""tfgan_cifar: train, evaluate, export and sample the classic GAN family on CIFAR-10-sized images."""
__version__ = "0.1.0"

import os as _os
import sys as _sys

# A command (`python -m tfgan_cifar.X` imports this package while argv[0] is still "-m"; or the
# `tfgan-cifar` script): hide TensorFlow's native start-up lines before anything imports TensorFlow.
if _sys.argv and (_sys.argv[0] == "-m" or _os.path.basename(_sys.argv[0]) == "tfgan-cifar"):
    from tfgan_cifar.lib import quiet as _quiet
    _quiet.install()
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO lines drown the progress bar

"""tfgan_cifar: train, evaluate, export and sample the classic GAN family on CIFAR-10-sized images."""
__version__ = "0.1.0"

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO lines drown the progress bar

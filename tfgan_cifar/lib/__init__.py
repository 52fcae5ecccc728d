"""The library: data, networks and layers, losses, metrics and features, export, and the run's
configuration and callbacks. It never imports the commands (tfgan_cifar/*.py) or the tools."""

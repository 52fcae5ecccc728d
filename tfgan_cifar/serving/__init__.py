"""make serve's library: the served models kept in step with the disk (models.py), TF Serving's REST API
(rest.py), sample grids and latent walks for the page (pictures.py), and a bounded load-test client
(load_test.py). It builds on lib/ only; the command is tfgan_cifar/serve.py."""

"""The latent space every command samples from: standard-normal vectors drawn from a seed, and the walk between
two of them along the great circle (slerp), which keeps the norm a Gaussian vector has where a straight line
would pass through low-norm vectors the generator never saw."""
import numpy as np


def latent_vectors(n, nz, seed=0):
    """n standard-normal latent vectors from `seed` (numpy: the same on every machine and in every command)."""
    return np.random.default_rng(seed).standard_normal((n, nz)).astype(np.float32)


def slerp(a, b, t):
    """Spherical interpolation between vectors a and b at fractions t (rows), keeping Gaussian norms."""
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t)[:, None] * a + t[:, None] * b
    return (np.sin((1 - t) * omega)[:, None] * a + np.sin(t * omega)[:, None] * b) / np.sin(omega)


def walk(nz, seed_a, seed_b, steps):
    """`steps` latent vectors from z(seed_a) to z(seed_b) along the great circle, float32."""
    a, b = latent_vectors(1, nz, seed_a)[0], latent_vectors(1, nz, seed_b)[0]
    return slerp(a.astype(np.float64), b.astype(np.float64), np.linspace(0.0, 1.0, steps)).astype(np.float32)

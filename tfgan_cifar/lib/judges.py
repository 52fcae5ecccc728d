"""The judges that share nothing with the evaluator's classifier, scored together against real reference images:
the sliced Wasserstein distance on Laplacian-pyramid patches (lib/swd.py, no network at all) and the classifier
two-sample test (lib/two_sample.py, a small CNN trained from scratch for each pair of sets).

Both compare equally many images a side: `Reference(images)` fixes the real side once (its SWD descriptors are
computed once), and every image set scored against it uses that many images at most.
"""
import numpy as np

from tfgan_cifar.lib import swd, two_sample

NAMES = ("swd", "c2st")  # the headline figure of each judge, lower (SWD) or closer to 0.5 (C2ST) is better
CHANCE = 0.5  # the two-sample test's accuracy when it cannot tell the sets apart
KEEP_SORTED_BYTES = 2 ** 30  # 1 GB: the sorted projections of 2,048 CIFAR-size real images


def distance(name, value):
    """A judge's figure as a distance from real images, lower better: the two-sample accuracy's distance from
    chance (a critic can score below it by chance), any other figure itself."""
    return abs(value - CHANCE) if name == "c2st" else value


def ratio(name, value, reference):
    """How much of a reference's distance `value` keeps: for a distance value / reference; for the two-sample
    test (name c2st), the ratio of the accuracies above chance."""
    return (value - CHANCE) / (reference - CHANCE) if name == "c2st" else value / reference


class Reference:
    """The real side of both judges: up to `limit` real uint8 images, drawn at random with `seed`. The real
    side's sorted SWD projections are kept too while they fit in `keep_sorted_bytes` (4 x 128 x 128 floats per
    image and pyramid level: 0.5 GB at 1,024 CIFAR-size images, the quality monitor's every epoch; 5 GB at
    10,000): half of SWD's sorting for every later set of that size (make eval's real floor, the damaged
    copies of the floors)."""

    def __init__(self, images_uint8, limit=None, seed=0, keep_sorted_bytes=KEEP_SORTED_BYTES):
        images = np.asarray(images_uint8)
        order = np.random.default_rng(seed).permutation(len(images))[:limit or len(images)]
        self.images, self.seed, self.keep_sorted_bytes = images[order], seed, keep_sorted_bytes
        self._descriptors, self._sorted = {}, {}

    def descriptors(self, n):
        if n not in self._descriptors:
            self._descriptors[n] = swd.descriptors(self.images[:n], self.seed)
        return self._descriptors[n]

    def score(self, images_uint8, two_sample_test=True):
        """{'swd', 'swd_<size>' per level, 'swd_images', and with the two-sample test 'c2st', 'c2st_p',
        'c2st_held_out'} of a set of images (the first min(len, reference) of them)."""
        n = min(len(images_uint8), len(self.images))
        kept = sum(p.nbytes for levels in self._sorted.values() for level in levels for p in level)
        if n not in self._sorted and kept + swd.sorted_bytes(n, self.images.shape[1]) <= self.keep_sorted_bytes:
            self._sorted[n] = [list(swd.sorted_projections(d, self.seed)) for d in self.descriptors(n)]
        result = dict(swd.swd(self.descriptors(n), np.asarray(images_uint8)[:n], self.seed, self._sorted.get(n)),
                      swd_images=n)
        if two_sample_test:
            result.update(two_sample.c2st(self.images, images_uint8, seed=self.seed))
        return result


# How every judge is checked on its own floor: real held-out images must score best, and these damaged copies of
# them worse than trained generators (docs/evaluation.md; tests/test_judges.py on shapes).
def blurred(images_uint8, sigma=1.0):
    """A Gaussian blur of standard deviation `sigma` pixels."""
    import scipy.ndimage
    out = scipy.ndimage.gaussian_filter(np.asarray(images_uint8, np.float32), (0, sigma, sigma, 0), mode="reflect")
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def noised(images_uint8, std=12.75, seed=0):
    """Gaussian pixel noise of `std` levels (12.75: 0.1 in the networks' [-1, 1] units)."""
    noise = np.random.default_rng(seed).normal(0, std, np.shape(images_uint8))
    return np.clip(np.round(np.asarray(images_uint8, np.float32) + noise), 0, 255).astype(np.uint8)


def shrunk(images_uint8, size=16):
    """Shrunk to size x size (antialiased) and enlarged back (bilinear): the detail of a smaller image."""
    import tensorflow as tf
    full = np.shape(images_uint8)[1]
    small = tf.image.resize(tf.cast(images_uint8, tf.float32), (size, size), antialias=True)
    out = tf.image.resize(small, (full, full), method="bilinear")
    return np.clip(np.round(out.numpy()), 0, 255).astype(np.uint8)


DAMAGED = {"blurred (Gaussian, sigma 1)": blurred, "noised (Gaussian, std 0.1 of [-1, 1])": noised,
           "shrunk to 16x16 and back": shrunk}

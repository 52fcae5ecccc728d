"""Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018, ProGAN's SWD): a judge that
needs no trained network, so it shares nothing with the evaluator's features and can watch every epoch.

Each image becomes a Laplacian pyramid down to 16x16 (32x32 images: the 32x32 band-pass level and the 16x16
low-pass level); from every level, 128 random 7x7x3 patches per image are the descriptors. Each set's
descriptors are normalised per colour channel by their own mean and deviation, and the distance of one
level is the mean, over 4 x 128 random unit directions, of the 1-d Wasserstein distance between the two sets'
projections (sorted and matched), times 1,000. Lower is better; the summary is the mean over levels. As
ProGAN's numpy code (metrics/sliced_wasserstein.py), with the same constants.
"""
import numpy as np

PATCH = 7
PATCHES_PER_IMAGE = 128
DIRECTIONS, REPEATS = 128, 4
SMALLEST_LEVEL = 16
_BINOMIAL = np.array([1, 4, 6, 4, 1], np.float32) / 16  # cv2.pyrDown's 5x5 filter is its outer product


def _blur(x, gain=1.0):
    """The 5x5 binomial filter (times `gain`) over H and W of [N, H, W, C], mirror edges (as ProGAN's
    scipy.ndimage.convolve with mode='mirror'), applied as two 1-d passes."""
    import scipy.ndimage
    row = _BINOMIAL * np.float32(np.sqrt(gain))
    return scipy.ndimage.convolve1d(scipy.ndimage.convolve1d(x, row, axis=1, mode="mirror"), row, axis=2,
                                    mode="mirror")


def pyr_down(x):
    return _blur(x)[:, ::2, ::2]


def pyr_up(x):
    n, h, w, c = x.shape
    up = np.zeros((n, 2 * h, 2 * w, c), x.dtype)
    up[:, ::2, ::2] = x
    return _blur(up, 4.0)


def laplacian_pyramid(images, levels):
    """[level 0 band-pass at full size, ..., the last level low-pass], float32 [N, H, W, 3] each."""
    pyramid = [np.asarray(images, np.float32)]
    for _ in range(1, levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - pyr_up(pyramid[-1])
    return pyramid


def levels_for(image_size):
    """The pyramid's resolutions: from the image size down to 16 (ProGAN: `while res >= 16`)."""
    sizes = [image_size]
    while sizes[-1] // 2 >= SMALLEST_LEVEL:
        sizes.append(sizes[-1] // 2)
    return sizes


def patches(level, rng, per_image=PATCHES_PER_IMAGE, size=PATCH):
    """[N * per_image, size * size * C] random patches, per_image from each image (centres at least size//2
    from the border)."""
    n, h, w, c = level.shape
    half = size // 2
    image = np.repeat(np.arange(n), per_image)
    y = rng.integers(half, h - half, len(image))
    x = rng.integers(half, w - half, len(image))
    offsets = np.arange(-half, half + 1)
    rows = (y[:, None] + offsets)[:, :, None]
    cols = (x[:, None] + offsets)[:, None, :]
    return level[image[:, None, None], rows, cols].reshape(len(image), -1)


def descriptors(images_uint8, seed=0):
    """Per pyramid level, normalised patch descriptors of a uint8 image set (pixel values 0..255)."""
    rng = np.random.default_rng(seed)
    images = np.asarray(images_uint8)
    out = []
    for level in laplacian_pyramid(images, len(levels_for(images.shape[1]))):
        d = patches(level, rng).astype(np.float32)
        channels = d.reshape(-1, images.shape[-1])  # a view: per colour channel, over all descriptors and positions
        mean = np.einsum("ij->j", channels, dtype=np.float64) / len(channels)  # einsum: 10x numpy's mean/std here
        std = np.sqrt(np.einsum("ij,ij->j", channels, channels, dtype=np.float64) / len(channels) - mean ** 2)
        channels -= mean.astype(np.float32)
        channels /= std.astype(np.float32)
        out.append(d)
    return out


def sliced_wasserstein(a, b, seed=0, directions=DIRECTIONS, repeats=REPEATS):
    """Mean over random unit directions of the 1-d Wasserstein-1 distance between the projections of two
    equally sized descriptor sets [M, D]."""
    if a.shape != b.shape:
        raise ValueError(f"sliced_wasserstein needs sets of one shape, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    distances = []
    for _ in range(repeats):
        dirs = rng.standard_normal((directions, a.shape[1])).astype(np.float32)
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        # [directions, M]: each projection sorted in place along its contiguous last axis
        pa, pb = dirs @ a.T, dirs @ b.T
        pa.sort(1)
        pb.sort(1)
        pa -= pb
        distances.append(float(np.abs(pa, out=pa).mean()))
    return float(np.mean(distances))


def swd(real_descriptors, fake_images_uint8, seed=0):
    """{'swd': mean over levels, 'swd_32': ..., 'swd_16': ...} (x 1,000, as ProGAN reports), for fake images
    against descriptors of as many real images (from `descriptors`)."""
    fake = descriptors(fake_images_uint8, seed + 1)
    if fake[0].shape != real_descriptors[0].shape:
        raise ValueError(f"SWD compares equal image counts: {len(fake[0]) // PATCHES_PER_IMAGE} generated, "
                         f"{len(real_descriptors[0]) // PATCHES_PER_IMAGE} real")
    sizes = levels_for(np.asarray(fake_images_uint8).shape[1])
    per_level = {f"swd_{s}": 1e3 * sliced_wasserstein(r, f, seed) for s, r, f in zip(sizes, real_descriptors, fake)}
    return dict(swd=float(np.mean(list(per_level.values()))), **per_level)

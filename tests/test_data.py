import os
import pickle
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED_CIFAR
from tfgan_cifar.lib import data, sources
from tfgan_cifar.lib.errors import DataError, UsageError


def write_batches(root, n_per_batch=20, seed=0):
    """A tiny copy of the official cifar-10-batches-py layout; returns (train images, train labels)."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder)
    all_images, all_labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (n_per_batch, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        batch = {b"batch_label": name.encode(), b"labels": labels,
                 b"data": images.transpose(0, 3, 1, 2).reshape(n_per_batch, -1)}  # CHW rows, as officially
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(batch, f, protocol=2)
        if name != "test_batch":
            all_images.append(images)
            all_labels += labels
    return np.concatenate(all_images), np.asarray(all_labels)


def test_shapes_deterministic_balanced_and_distinct():
    a, b = data.make_shapes(200, seed=3), data.make_shapes(200, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, data.make_shapes(200, seed=4).images)
    assert a.images.shape == (200, 32, 32, 3) and a.images.dtype == np.uint8
    assert np.bincount(a.labels).tolist() == [20] * 10
    # Classes differ visibly: the mean image of each class is far from every other class's.
    means = np.stack([a.images[a.labels == c].astype(float).mean(0) for c in range(10)])
    dist = np.sqrt(((means[:, None] - means[None]) ** 2).mean(axis=(2, 3, 4)))
    assert dist[~np.eye(10, dtype=bool)].min() > 5


def test_batches_py_directory(tmp_path):
    images, labels = write_batches(tmp_path)
    got = data.load("cifar10", "train", str(tmp_path))
    np.testing.assert_array_equal(got.images, images)  # HWC restored from the CHW rows
    np.testing.assert_array_equal(got.labels, labels)
    assert len(data.load("cifar10", "test", str(tmp_path))) == 20


def test_tar_gz(tmp_path):
    src = tmp_path / "src"
    images, labels = write_batches(src)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    got = data.load("cifar10", "train", str(tmp_path))
    np.testing.assert_array_equal(got.images, images)
    np.testing.assert_array_equal(got.labels, labels)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    write_batches(tmp_path)
    marker = tmp_path / "pwned"
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "wb") as f:
        pickle.dump({b"data": _Exploit(marker), b"labels": []}, f)
    with pytest.raises(DataError, match="refusing to unpickle"):
        data.load("cifar10", "train", str(tmp_path))
    assert not marker.exists()
    # The same file through plain pickle would have run the command: the test can tell.
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_truncated_batch_is_a_clear_error(tmp_path):
    write_batches(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="data_batch_2"):
        data.load("cifar10", "train", str(tmp_path))


def test_missing_cifar_explains_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_reachable", lambda host, **kw: False)  # offline, whatever this machine is
    with pytest.raises(DataError) as err:
        data.load("cifar10", "train", str(tmp_path))
    message = str(err.value)
    assert "cifar-10-python.tar.gz" in message and "to_batches.py" in message and "\n" not in message


def test_folder_skips_corrupt_files_and_counts_them(tmp_path, caplog):
    rng = np.random.default_rng(0)
    for c, name in enumerate(["cats", "dogs"]):
        os.makedirs(tmp_path / name)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8not really a jpeg")
    (tmp_path / "dogs" / "notes.txt").write_text("ignored: not an image extension")
    train = data.load(f"folder:{tmp_path}", "train", image_size=32)
    test = data.load(f"folder:{tmp_path}", "test", image_size=32)
    assert train.class_names == ("cats", "dogs")
    assert train.images.shape[1:] == (32, 32, 3)
    assert len(train) + len(test) == 20  # the corrupt file is skipped...
    assert "skipped 1 unreadable" in caplog.text  # ...and counted
    assert sorted(np.bincount(test.labels).tolist()) == [1, 1]


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.load(f"folder:{tmp_path}/nope")
    with pytest.raises(DataError, match="no class sub-folders"):
        data.load(f"folder:{tmp_path}")


def test_class_subset_and_bad_classes(tmp_path, monkeypatch):
    sub = data.load("shapes", examples=300, classes=[0, 3])
    assert set(sub.labels.tolist()) == {0, 3}
    # Where the class names are known, bad classes are refused before any image is drawn or read.
    monkeypatch.setattr(data, "make_shapes", lambda *a, **k: pytest.fail("drew the images first"))
    with pytest.raises(UsageError, match=r"--classes \[12\] out of range: shapes has classes 0..9"):
        data.load("shapes", examples=300, classes=[12])
    with pytest.raises(UsageError, match="out of range: cifar10"):
        data.load("cifar10", data_dir=str(tmp_path / "no_such_folder"), classes=[10])
    for name in ("a", "b"):  # a folder's classes are its sub-folders: two here
        os.makedirs(tmp_path / "set" / name)
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "set" / name / "0.png")
    with pytest.raises(UsageError, match="out of range: folder:.* has classes 0..1"):
        data.load(f"folder:{tmp_path / 'set'}", classes=[2])
    with pytest.raises(UsageError, match="unknown dataset"):
        data.parse_dataset("mnist")


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("cache", [True, False])
def test_pipeline_scaling_shapes_and_labels(size, cache):
    d = data.make_shapes(100, seed=1)
    ds = data.make_pipeline(d, 16, image_size=size, shuffle=False, cache=cache)
    batches = list(ds)
    assert len(batches) == 100 // 16  # drop_remainder
    images, labels = batches[0]
    assert images.shape == (16, size, size, 3) and labels.dtype.name == "int32"
    np.testing.assert_array_equal(labels.numpy(), d.labels[:16])
    assert images.numpy().min() >= -1.0 and images.numpy().max() <= 1.0
    if size == 32:
        np.testing.assert_allclose(images.numpy(), d.images[:16] / 127.5 - 1.0, atol=1e-6)


def test_pipeline_shuffles_every_pass_and_starts_at_any_step():
    d = data.make_shapes(96, seed=1)
    stream = [labels.numpy() for _, labels in data.make_pipeline(d, 32, seed=5, repeat=True).take(9)]
    pass0, pass1 = np.concatenate(stream[:3]), np.concatenate(stream[3:6])
    assert sorted(pass0.tolist()) == sorted(pass1.tolist()) == sorted(d.labels.tolist())  # each pass: every image once
    assert not np.array_equal(pass0, pass1)  # a fresh permutation per pass
    assert not np.array_equal(pass0, d.labels)  # shuffled at all
    for start in (1, 3, 7):  # a resumed run continues the same stream, within and across passes
        resumed = [labels.numpy() for _, labels in data.make_pipeline(d, 32, seed=5, repeat=True, start_step=start).take(2)]
        np.testing.assert_array_equal(np.concatenate(resumed), np.concatenate(stream[start:start + 2]))
    other_seed = next(iter(data.make_pipeline(d, 32, seed=6)))[1].numpy()
    assert not np.array_equal(other_seed, stream[0])


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(os.path.join(SHARED_CIFAR, "cifar10_jpeg.npz")),
                    reason="the shared CIFAR-10 copy (../shared/cifar10) is absent")
def test_real_cifar10_from_shared_copy(tmp_path):
    subprocess.run([sys.executable, os.path.join(SHARED_CIFAR, "to_batches.py"), str(tmp_path)], check=True,
                   capture_output=True)
    train = data.load("cifar10", "train", str(tmp_path))
    test = data.load("cifar10", "test", str(tmp_path))
    assert len(train) == 50000 and len(test) == 10000
    assert np.bincount(train.labels).tolist() == [5000] * 10
    ref = np.load(os.path.join(SHARED_CIFAR, "cifar10_jpeg.npz"))
    np.testing.assert_array_equal(np.sort(test.labels), np.sort(ref["labels"][~ref["is_train"]]))
    assert 100 < train.images.mean() < 140  # natural images, not noise or zeros


def test_random_subset_is_not_a_prefix_of_a_class_sorted_set():
    sorted_set = data.ImageSet(np.zeros((1000, 2, 2, 3), np.uint8), np.repeat(np.arange(10), 100).astype(np.int32),
                               tuple("abcdefghij"))
    sub = data.random_subset(sorted_set, 500, seed=0)
    counts = np.bincount(sub.labels, minlength=10)
    assert len(sub) == 500 and counts.min() >= 30  # a prefix would hold classes 0-4 only
    np.testing.assert_array_equal(sub.labels, data.random_subset(sorted_set, 500, seed=0).labels)
    assert len(data.random_subset(sorted_set, 5000)) == 1000

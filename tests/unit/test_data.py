"""Dataset loaders on small files in the real formats (IDX, CIFAR python batches) written by the tests."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from compression import data


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """`data.load` is lru-cached per (name, COMPRESSION_DATA): start and end every test clean."""
    data._load_cached.cache_clear()
    yield
    data._load_cached.cache_clear()


def _unique_images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random uint8 images whose first two pixels encode the index, so every image is distinct."""
    x = np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    flat = x.reshape(n, -1)
    flat[:, 0] = np.arange(n) % 256
    flat[:, 1] = np.arange(n) // 256
    return x


def _write_mnist_like(folder: Path, n_train: int, n_test: int, gz: bool) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    x_tr = _unique_images(n_train, (28, 28), 1)
    x_te = _unique_images(n_test, (28, 28), 2)
    y_tr = np.arange(n_train) % 10
    y_te = np.arange(n_test) % 10
    ext = ".gz" if gz else ""
    data.write_idx(folder / f"train-images-idx3-ubyte{ext}", x_tr)
    data.write_idx(folder / f"train-labels-idx1-ubyte{ext}", y_tr)
    data.write_idx(folder / f"t10k-images-idx3-ubyte{ext}", x_te)
    data.write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", y_te)
    return x_tr, y_tr


def _write_cifar(folder: Path, per_batch: int, n_batches: int, n_test: int) -> None:
    """The real CIFAR-10 python format: pickled dicts with b'data' (N x 3072 uint8) and b'labels'."""
    base = folder / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(3)
    names = [f"data_batch_{i}" for i in range(1, n_batches + 1)] + ["test_batch"]
    for k, name in enumerate(names):
        n = n_test if name == "test_batch" else per_batch
        x = _unique_images(n, (3 * 32 * 32,), seed=10 + k)
        x[:, 2] = k  # distinct across batches too
        labels = rng.integers(0, 10, size=n).tolist()
        with open(base / name, "wb") as fh:
            pickle.dump({b"data": x, b"labels": labels, b"batch_label": name.encode()}, fh)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path: Path, suffix: str) -> None:
    arr = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    path = tmp_path / f"x-idx3-ubyte{suffix}"
    data.write_idx(path, arr)
    back = data.read_idx(path)
    assert back.shape == (7, 5, 3)
    assert np.array_equal(back, arr)


def test_read_idx_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x01\x02\x03\x04hello")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_local_idx_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool) -> None:
    root = tmp_path / "data"
    x_tr, _ = _write_mnist_like(root / "mnist", n_train=240, n_test=36, gz=gz)
    monkeypatch.setenv("COMPRESSION_DATA", str(root))
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path / "cache"))
    assert data.available("mnist")
    ds = data.load("mnist")
    assert ds.input_shape == (1, 28, 28)
    assert ds.num_classes == 10
    assert len(ds.x_val) == 20  # round(240 / 12)
    assert len(ds.x_train) == 220
    assert len(ds.x_test) == 36
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    # Normalised with training-split statistics.
    assert abs(float(ds.x_train.mean())) < 1e-3
    assert abs(float(ds.x_train.std()) - 1) < 1e-2
    # Train and validation are disjoint and together are exactly the file's training images.
    both = torch.cat([ds.x_train, ds.x_val]).flatten(1)
    assert torch.unique(both, dim=0).shape[0] == 240
    # Labels follow their images: label = index % 10, and the index sits in pixels 0 and 1.
    mean, std = _train_stats(x_tr, ds)
    idx = (ds.x_val.flatten(1)[:, 0] * std + mean).round().long() + 256 * (
        ds.x_val.flatten(1)[:, 1] * std + mean
    ).round().long()
    assert torch.equal(ds.y_val, idx % 10)


def _train_stats(x_tr: np.ndarray, ds: data.Dataset) -> tuple[float, float]:
    """Recover the (mean, std) in 0..255 units that the loader used, from the training split."""
    order = np.random.default_rng(data.SPLIT_SEED).permutation(len(x_tr))
    n_val = len(ds.x_val)
    train = torch.from_numpy(x_tr[order[n_val:]]).float()
    return float(train.mean()), float(train.std())


def test_splits_are_fixed_across_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    _write_mnist_like(root, n_train=120, n_test=24, gz=True)  # files directly in COMPRESSION_DATA
    monkeypatch.setenv("COMPRESSION_DATA", str(root))
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path / "cache"))
    first = data.load("fashion-mnist")
    data._load_cached.cache_clear()
    second = data.load("fashion-mnist")
    assert first is not second
    for name in ("train", "val", "test"):
        x1, y1 = first.split(name)
        x2, y2 = second.split(name)
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert first.classes == data.FASHION_CLASSES


def test_digits_embedded_splits_disjoint() -> None:
    ds = data.load("digits")
    assert ds.input_shape == (1, 8, 8)
    assert len(ds.x_test) == 360
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 1797
    assert len(ds.x_val) == round((1797 - 360) * 0.15)
    assert sorted(torch.unique(ds.y_test).tolist()) == list(range(10))


def test_cifar_python_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    _write_cifar(root / "cifar10", per_batch=50, n_batches=2, n_test=20)
    monkeypatch.setenv("COMPRESSION_DATA", str(root))
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path / "cache"))
    assert data.available("cifar10")
    ds = data.load("cifar10")
    assert ds.input_shape == (3, 32, 32)
    assert ds.classes == data.CIFAR_CLASSES
    assert len(ds.x_train) + len(ds.x_val) == 100
    assert len(ds.x_val) == 10
    assert len(ds.x_test) == 20
    both = torch.cat([ds.x_train, ds.x_val]).flatten(1)
    assert torch.unique(both, dim=0).shape[0] == 100
    # Per-channel normalisation on the training split.
    assert torch.allclose(ds.x_train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-3)


def test_batches_cover_everything_once() -> None:
    x = torch.arange(10).float().reshape(10, 1)
    y = torch.arange(10)
    seen = torch.cat([yb for _, yb in data.batches(x, y, 3, shuffle_seed=5)])
    assert sorted(seen.tolist()) == list(range(10))
    again = torch.cat([yb for _, yb in data.batches(x, y, 3, shuffle_seed=5)])
    assert torch.equal(seen, again)
    assert [len(b) for b, _ in data.batches(x, y, 4)] == [4, 4, 2]


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_missing_dataset_names_every_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file, so no download folder can be created under it")
    monkeypatch.setenv("COMPRESSION_DATA", str(empty))
    # The cache (and download target) lies under a regular file: the download fails on any machine,
    # online or offline, without touching the network.
    monkeypatch.setenv("COMPRESSION_CACHE", str(blocker / "cache"))
    assert not data.available(name)
    with pytest.raises(data.DatasetUnavailable) as info:
        data.load(name)
    message = str(info.value)
    for folder in data.local_folders(name):
        assert str(folder) in message
    assert "download" in message
    assert "COMPRESSION_DATA" in message


def test_unknown_dataset_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="Known: digits"):
        data.load("imagenet-22k")

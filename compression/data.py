"""Datasets: a registry of loaders that return in-memory tensors with fixed, seeded splits.

Every dataset becomes a `Dataset` of float tensors (N, C, H, W) normalised to zero mean and
unit variance on the training split, with integer labels. Splits are fixed by a seed so that
every page, test and benchmark sees the same validation and test images.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

SPLIT_SEED = 0  # fixed: every consumer sees the same split
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


class DatasetUnavailable(RuntimeError):
    """Raised when a dataset is in none of the places we look; the message says where and how."""


@dataclass(frozen=True)
class Dataset:
    name: str
    classes: tuple[str, ...]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x_train.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return {
            "train": (self.x_train, self.y_train),
            "val": (self.x_val, self.y_val),
            "test": (self.x_test, self.y_test),
        }[name]


def batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle_seed: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x, y) mini-batches; shuffled with a seeded generator when a seed is given."""
    n = len(x)
    if shuffle_seed is None:
        for i in range(0, n, batch_size):
            yield x[i : i + batch_size], y[i : i + batch_size]
        return
    order = torch.randperm(n, generator=torch.Generator().manual_seed(shuffle_seed))
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        yield x[idx], y[idx]


# ---------------------------------------------------------------- file formats


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip or raw."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise ValueError(f"{path}: only unsigned-byte IDX files are supported")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {int(np.prod(dims))} values, found {body.size}")
    return body.reshape(dims)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an unsigned-byte IDX file (gzip when the name ends in .gz); used by tests."""
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(header + arr.tobytes())


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (folder / name).exists():
            return folder / name
    return None


def _load_idx_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    parts = []
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        path = _find_idx(folder, stem)
        if path is None:
            raise FileNotFoundError(folder / stem)
        parts.append(read_idx(path))
    return parts[0], parts[1], parts[2], parts[3]


def _load_cifar_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-10 python batches. They are pickles, so only a folder the user named is read."""
    base = folder / "cifar-10-batches-py" if (folder / "cifar-10-batches-py").exists() else folder

    def load(name: str) -> tuple[np.ndarray, np.ndarray]:
        with open(base / name, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")  # noqa: S301 - local CIFAR files, the standard format
        x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        return x, np.asarray(d[b"labels"], dtype=np.int64)

    if not (base / "data_batch_1").exists():
        raise FileNotFoundError(base / "data_batch_1")
    train = [load(f"data_batch_{i}") for i in range(1, 6) if (base / f"data_batch_{i}").exists()]
    xt, yt = load("test_batch")
    return (
        np.concatenate([t[0] for t in train]),
        np.concatenate([t[1] for t in train]),
        xt,
        yt,
    )


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]
    loader: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    val_fraction: float  # carved from the training split with SPLIT_SEED


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images * (255.0 / 16.0)).astype(np.uint8)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    n_test = 360  # 20 %: the test split is fixed once and for all
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def local_folders(name: str) -> list[Path]:
    """Where a dataset is looked for, in order."""
    folders: list[Path] = []
    env = os.environ.get("COMPRESSION_DATA")
    if env:
        folders += [Path(env) / name, Path(env)]
    if name == "fashion-mnist":
        folders.append(DEBIAN_FASHION)
    folders.append(Path(os.environ.get("COMPRESSION_CACHE", "cache")) / "datasets" / name)
    return folders


_TORCHVISION = {"fashion-mnist": "FashionMNIST", "mnist": "MNIST", "cifar10": "CIFAR10"}
_HOW_TO_GET = {
    "fashion-mnist": "install Debian's package (apt-get install dataset-fashion-mnist)",
    "mnist": "put the four MNIST IDX files in a folder and set COMPRESSION_DATA to it",
    "cifar10": "put cifar-10-batches-py in a folder and set COMPRESSION_DATA to it",
}


def _local_or_download(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tried: list[str] = []
    load = _load_cifar_folder if name == "cifar10" else _load_idx_folder
    for folder in local_folders(name):
        try:
            return load(folder)
        except FileNotFoundError:
            tried.append(str(folder))
    download_root = local_folders(name)[-1]
    try:
        import torchvision.datasets as tvd

        cls = getattr(tvd, _TORCHVISION[name])
        train = cls(str(download_root), train=True, download=True)
        test = cls(str(download_root), train=False, download=True)
    except Exception as exc:  # noqa: BLE001 - any download failure gets the same guidance
        tried.append(f"torchvision download into {download_root} ({type(exc).__name__})")
        raise DatasetUnavailable(
            f"Dataset '{name}' was not found. Looked in: {'; '.join(tried)}. To get it: {_HOW_TO_GET[name]}."
        ) from exc

    def arrays(ds: object) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(ds.data, dtype=np.uint8)  # type: ignore[attr-defined]
        if x.ndim == 4:  # CIFAR is NHWC
            x = x.transpose(0, 3, 1, 2)
        return x, np.asarray(ds.targets, dtype=np.int64)  # type: ignore[attr-defined]

    return (*arrays(train), *arrays(test))


FASHION_CLASSES = (
    "T-shirt",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Boot",
)
CIFAR_CLASSES = (
    "plane",
    "car",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        "digits",
        "Digits (scikit-learn, 8x8, embedded)",
        tuple(str(i) for i in range(10)),
        (1, 8, 8),
        _digits,
        0.15,
    ),
    "fashion-mnist": DatasetSpec(
        "fashion-mnist",
        "Fashion-MNIST (28x28)",
        FASHION_CLASSES,
        (1, 28, 28),
        lambda: _local_or_download("fashion-mnist"),
        1 / 12,
    ),
    "mnist": DatasetSpec(
        "mnist",
        "MNIST (28x28)",
        tuple(str(i) for i in range(10)),
        (1, 28, 28),
        lambda: _local_or_download("mnist"),
        1 / 12,
    ),
    "cifar10": DatasetSpec(
        "cifar10",
        "CIFAR-10 (3x32x32)",
        CIFAR_CLASSES,
        (3, 32, 32),
        lambda: _local_or_download("cifar10"),
        0.1,
    ),
}


def _to_tensor(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.array(x, dtype=np.uint8)).float().div_(255.0)
    return t.unsqueeze(1) if t.ndim == 3 else t


@lru_cache(maxsize=8)
def _load_cached(name: str, folder_key: str) -> Dataset:
    spec = DATASETS[name]
    x_tr, y_tr, x_te, y_te = spec.loader()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x_tr))
    n_val = int(round(len(x_tr) * spec.val_fraction))
    val, train = order[:n_val], order[n_val:]
    xt = _to_tensor(x_tr)
    mean = xt[torch.from_numpy(train)].mean(dim=(0, 2, 3), keepdim=True)
    std = xt[torch.from_numpy(train)].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)

    def norm(x: torch.Tensor) -> torch.Tensor:
        return ((x - mean) / std).contiguous()

    return Dataset(
        name=name,
        classes=spec.classes,
        x_train=norm(xt[torch.from_numpy(train)]),
        y_train=torch.from_numpy(np.array(y_tr, dtype=np.int64)[train]),
        x_val=norm(xt[torch.from_numpy(val)]),
        y_val=torch.from_numpy(np.array(y_tr, dtype=np.int64)[val]),
        x_test=norm(_to_tensor(x_te)),
        y_test=torch.from_numpy(np.array(y_te, dtype=np.int64)),
    )


def load(name: str) -> Dataset:
    """Load a registered dataset (cached in memory per process)."""
    if name not in DATASETS:
        raise KeyError(f"Unknown dataset '{name}'. Known: {', '.join(DATASETS)}")
    return _load_cached(name, os.environ.get("COMPRESSION_DATA", ""))


def available(name: str) -> bool:
    """True when the dataset loads without a download (embedded or in a local folder)."""
    if name == "digits":
        return True
    for folder in local_folders(name):
        try:
            if name == "cifar10":
                base = folder / "cifar-10-batches-py"
                if (base if base.exists() else folder).joinpath("test_batch").exists():
                    return True
            elif all(
                _find_idx(folder, s) is not None
                for s in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
            ):
                return True
        except OSError:
            continue
    return False

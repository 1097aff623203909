"""MNIST held in memory as tensors, batched by indexing.

The original IDX files are downloaded by ``torchvision.datasets.MNIST`` when they are missing and
the network allows, read with numpy (their sizes and magic numbers checked first), then kept as two
float tensors of pixels in [0, 1] and two label tensors. Batching by indexing a shuffled permutation is far
faster than a per-sample ``DataLoader`` (``benchmarks/throughput.py`` measures by how much).

Where the data lives: the ``data_dir`` argument (CLI ``--data-dir``), else the environment
variable ``BNN_DATA_DIR``, else a per-user cache directory. The directory is laid out as
torchvision expects: ``<dir>/MNIST/raw/train-images-idx3-ubyte`` and so on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ENV_VAR = "BNN_DATA_DIR"
RAW_FILES = {  # file name -> exact size in bytes of the original uncompressed IDX file
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
}
IDX_MAGIC = {"images": 2051, "labels": 2049}


class DataError(RuntimeError):
    """MNIST could not be loaded; the message names the directory and how to fix it."""


class DataUnavailableError(DataError):
    """The files are missing and could not be downloaded."""


class DataCorruptError(DataError):
    """A file is truncated or not an MNIST IDX file."""


def default_data_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "bnn-playground" / "mnist"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir`` if given, else ``$BNN_DATA_DIR``, else the per-user cache dir."""
    chosen = data_dir or os.environ.get(ENV_VAR) or default_data_dir()
    return Path(chosen).expanduser().resolve()


def raw_dir(root: Path) -> Path:
    return root / "MNIST" / "raw"


def missing_files(root: Path) -> list[str]:
    return [name for name in RAW_FILES if not (raw_dir(root) / name).is_file()]


def check_files(root: Path) -> None:
    """Raise :class:`DataCorruptError` unless every raw file has the right size and magic."""
    for name, size in RAW_FILES.items():
        path = raw_dir(root) / name
        actual = path.stat().st_size
        if actual != size:
            raise DataCorruptError(
                f"{path} is {actual:,} bytes, expected {size:,}: the file is truncated or not "
                f"MNIST. Delete it and let the app download it again, or copy the original file."
            )
        with open(path, "rb") as handle:
            magic = int.from_bytes(handle.read(4), "big")
        expected = IDX_MAGIC["images" if "images" in name else "labels"]
        if magic != expected:
            raise DataCorruptError(
                f"{path} does not start with the IDX magic number {expected} (found {magic}): "
                "it is not an MNIST file. Replace it with the original."
            )


def _unavailable_message(root: Path, reason: str) -> str:
    return (
        f"MNIST is not in {raw_dir(root)} and could not be downloaded ({reason}). "
        f"Either connect to the internet and try again, or copy the four original files "
        f"({', '.join(RAW_FILES)}) into {raw_dir(root)}, or point {ENV_VAR} / --data-dir at a "
        f"directory that holds MNIST/raw/."
    )


def ensure_mnist(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Make sure the raw files are in place (downloading with torchvision if allowed)."""
    root = resolve_data_dir(data_dir)
    if missing_files(root):
        if not download:
            raise DataUnavailableError(_unavailable_message(root, "download disabled"))
        if root != default_data_dir().resolve() and not root.is_dir():
            raise DataUnavailableError(
                _unavailable_message(root, f"{root} does not exist: create it to download there")
            )
        from torchvision.datasets import MNIST

        try:
            root.mkdir(parents=True, exist_ok=True)
            MNIST(root=str(root), train=True, download=True)
            MNIST(root=str(root), train=False, download=True)
        except Exception as exc:  # no network, DNS, HTTP errors, read-only disk ...
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
            raise DataUnavailableError(_unavailable_message(root, reason)) from None
        if missing_files(root):
            raise DataUnavailableError(_unavailable_message(root, "download incomplete"))
    check_files(root)
    return root


@dataclass(frozen=True)
class MnistData:
    """The whole of MNIST as tensors: images float32 (N, 1, 28, 28) in [0, 1], labels int64."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    root: Path | None = None

    @property
    def device(self) -> torch.device:
        return self.train_images.device

    def to(self, device: torch.device | str) -> MnistData:
        return MnistData(*(t.to(device) for t in self.tensors()), root=self.root)

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)

    def subset(self, train: int = 0, test: int = 0) -> MnistData:
        """The first ``train`` / ``test`` images (0 keeps all)."""
        n_train = train or len(self.train_labels)
        n_test = test or len(self.test_labels)
        return MnistData(
            self.train_images[:n_train],
            self.train_labels[:n_train],
            self.test_images[:n_test],
            self.test_labels[:n_test],
            root=self.root,
        )


IDX_HEADER_BYTES = {"images": 16, "labels": 8}  # magic and sizes (4 bytes each) before the uint8 data
IMAGE_SIDE = 28  # MNIST's images are 28x28 pixels


def _read_split(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One split's images (N, 1, 28, 28) float32 in [0, 1] and labels int64, read straight from the IDX
    files (big-endian header, then one uint8 per pixel or label). :func:`check_files` has already checked
    each file's exact size and magic number, so the data's length is known; reading them with numpy takes
    a tenth of a second, where ``torchvision.datasets.MNIST`` also imports torchvision (~1.5 s together):
    the first page that needs MNIST waits for this."""
    prefix = "train" if train else "t10k"
    images_path = raw_dir(root) / f"{prefix}-images-idx3-ubyte"
    labels_path = raw_dir(root) / f"{prefix}-labels-idx1-ubyte"
    try:
        image_header = np.fromfile(images_path, dtype=">u4", count=4)  # magic, count, rows, columns
        label_header = np.fromfile(labels_path, dtype=">u4", count=2)  # magic, count
        pixels = np.fromfile(images_path, dtype=np.uint8, offset=IDX_HEADER_BYTES["images"])
        labels = np.fromfile(labels_path, dtype=np.uint8, offset=IDX_HEADER_BYTES["labels"])
    except OSError as exc:
        raise DataCorruptError(
            f"could not read MNIST from {raw_dir(root)} ({type(exc).__name__}: {exc}); "
            "replace the files with the originals"
        ) from None
    count = len(labels)
    if (
        list(image_header[1:]) != [count, IMAGE_SIDE, IMAGE_SIDE]
        or label_header[1] != count
        or len(pixels) != (count * IMAGE_SIDE * IMAGE_SIDE)
    ):
        raise DataCorruptError(
            f"could not read MNIST from {raw_dir(root)}: the {prefix} files' headers say "
            f"{int(image_header[1]):,} images of {int(image_header[2])}x{int(image_header[3])} and "
            f"{int(label_header[1]):,} labels, the files hold {count:,} labels; replace the files with the originals"
        )
    images = torch.from_numpy(pixels.reshape(count, 1, IMAGE_SIDE, IMAGE_SIDE))
    if labels.size and not int(labels.max()) <= 9:
        raise DataCorruptError(
            f"{raw_dir(root)}: a label is {int(labels.max())}, not a digit 0-9; replace the files with the originals"
        )
    return images.to(torch.float32).div_(255.0), torch.from_numpy(labels).to(torch.int64)


_cache: dict[tuple[str, str], MnistData] = {}
_cache_lock = threading.Lock()


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    download: bool = True,
) -> MnistData:
    """Load (once per directory and device) the full MNIST train and test sets as tensors."""
    root = ensure_mnist(data_dir, download=download)
    key = (str(root), str(device))
    with _cache_lock:
        if key not in _cache:
            train_images, train_labels = _read_split(root, train=True)
            test_images, test_labels = _read_split(root, train=False)
            _cache[key] = MnistData(train_images, train_labels, test_images, test_labels, root).to(device)
        return _cache[key]


def iterate_batches(
    count: int,
    batch_size: int,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    device: torch.device | str | None = None,
) -> Iterator[torch.Tensor]:
    """Index tensors of one epoch over ``count`` samples (the last batch may be smaller), on
    ``device`` (the epoch's order is drawn on the CPU and moved there once)."""
    order = torch.randperm(count, generator=generator) if shuffle else torch.arange(count)
    if device is not None:
        order = order.to(device)
    for start in range(0, count, batch_size):
        yield order[start : start + batch_size]


def random_shifts(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image of ``images`` (N, C, H, W) moved by its own (dy, dx), both drawn uniformly from
    ``[-max_shift, max_shift]`` with ``generator`` (on the CPU); pixels moved in from outside are 0
    (MNIST's black background). The classic augmentation for MNIST: a digit is the same digit a
    pixel or two further left."""
    if max_shift == 0:
        return images
    count, _, height, width = images.shape
    padded = torch.nn.functional.pad(images, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, count, 1), generator=generator).to(images.device)
    rows = offsets[0] + torch.arange(height, device=images.device)  # (N, H): padded rows each image keeps
    cols = offsets[1] + torch.arange(width, device=images.device)
    batch = torch.arange(count, device=images.device)[:, None, None]
    moved = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C): advanced indices first
    return moved.permute(0, 3, 1, 2).contiguous()


def steps_per_epoch(count: int, batch_size: int) -> int:
    return -(-count // batch_size)

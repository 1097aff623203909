"""bnn.training.data: loading MNIST, clear errors for missing/corrupt files, batching, directories."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

import bnn.training.data as data_mod
from bnn.training.data import (
    ENV_VAR,
    RAW_FILES,
    DataCorruptError,
    DataError,
    DataUnavailableError,
    MnistData,
    check_files,
    default_data_dir,
    ensure_mnist,
    iterate_batches,
    load_mnist,
    missing_files,
    random_shifts,
    raw_dir,
    resolve_data_dir,
    steps_per_epoch,
)


def test_load_mnist_shapes_dtypes_range(mnist: MnistData):
    assert mnist.train_images.shape == (60000, 1, 28, 28)
    assert mnist.test_images.shape == (10000, 1, 28, 28)
    assert mnist.train_images.dtype == torch.float32 and mnist.test_images.dtype == torch.float32
    assert mnist.train_labels.shape == (60000,) and mnist.test_labels.shape == (10000,)
    assert mnist.train_labels.dtype == torch.int64 and mnist.test_labels.dtype == torch.int64
    assert float(mnist.train_images.min()) == 0.0 and float(mnist.train_images.max()) == 1.0
    assert float(mnist.test_images.min()) == 0.0 and float(mnist.test_images.max()) == 1.0
    assert mnist.train_labels.min() == 0 and mnist.train_labels.max() == 9
    assert mnist.device == torch.device("cpu")


def test_mnist_known_numbers(mnist: MnistData):
    zeros = int((mnist.train_labels == 0).sum())
    assert zeros == 5923
    assert round(100 * zeros / 60000, 2) == 9.87
    assert int((mnist.test_labels == 0).sum()) == 980
    assert torch.bincount(mnist.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert mnist.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.test_labels[:5].tolist() == [7, 2, 1, 0, 4]
    # pixels are k/255
    sample = mnist.train_images[0].flatten() * 255
    assert torch.allclose(sample, sample.round(), atol=1e-4)


def test_load_mnist_is_cached(mnist: MnistData, mnist_dir: Path):
    assert load_mnist(mnist_dir, download=False) is mnist
    assert mnist.root == resolve_data_dir(mnist_dir)


def test_subset(tiny_data: MnistData):
    sub = tiny_data.subset(train=10, test=3)
    assert len(sub.train_labels) == 10 and len(sub.test_labels) == 3
    assert torch.equal(sub.train_images, tiny_data.train_images[:10])
    assert len(tiny_data.subset(train=10).test_labels) == len(tiny_data.test_labels)
    assert len(tiny_data.subset().train_labels) == len(tiny_data.train_labels)


# --- missing / corrupt files ---------------------------------------------------------------


def test_missing_dir_without_download_names_the_directory(tmp_path: Path):
    root = tmp_path / "nowhere"
    with pytest.raises(DataUnavailableError) as info:
        load_mnist(root, download=False)
    message = str(info.value)
    assert str(raw_dir(root.resolve())) in message
    assert "download disabled" in message
    assert ENV_VAR in message and "train-images-idx3-ubyte" in message
    assert isinstance(info.value, DataError)
    assert missing_files(root) == list(RAW_FILES)


def _copy_mnist(src: Path, dst_root: Path, copy: tuple[str, ...] = ()) -> Path:
    """dst_root/MNIST/raw with the files in ``copy`` copied (writable) and the rest symlinked."""
    dst = raw_dir(dst_root)
    dst.mkdir(parents=True)
    for name in RAW_FILES:
        if name in copy:
            shutil.copyfile(raw_dir(src) / name, dst / name)
            os.chmod(dst / name, 0o644)
        else:
            os.symlink(raw_dir(src).resolve() / name, dst / name)
    return dst


def test_copy_is_loadable(mnist_dir: Path, tmp_path: Path):
    dst = _copy_mnist(mnist_dir, tmp_path, copy=("t10k-labels-idx1-ubyte",))
    assert missing_files(tmp_path) == []
    check_files(tmp_path)  # no error
    assert (dst / "t10k-labels-idx1-ubyte").stat().st_size == RAW_FILES["t10k-labels-idx1-ubyte"]


@pytest.mark.parametrize("name", ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"])
def test_truncated_file_gives_data_corrupt_error(mnist_dir: Path, tmp_path: Path, name: str):
    dst = _copy_mnist(mnist_dir, tmp_path, copy=(name,))
    size = RAW_FILES[name]
    with open(dst / name, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(DataCorruptError) as info:
        load_mnist(tmp_path, download=False)
    message = str(info.value)
    assert str(dst / name) in message
    assert f"{size // 2:,} bytes, expected {size:,}" in message
    assert "truncated" in message
    assert "Traceback" not in message and "\n" not in message


def test_wrong_magic_gives_data_corrupt_error(mnist_dir: Path, tmp_path: Path):
    name = "t10k-labels-idx1-ubyte"
    dst = _copy_mnist(mnist_dir, tmp_path, copy=(name,))
    with open(dst / name, "r+b") as handle:
        handle.write((2051).to_bytes(4, "big"))  # an images magic in a labels file
    with pytest.raises(DataCorruptError) as info:
        ensure_mnist(tmp_path, download=False)
    message = str(info.value)
    assert str(dst / name) in message
    assert "magic number 2049 (found 2051)" in message


def test_right_size_and_magic_but_bad_header_gives_data_corrupt_error(mnist_dir: Path, tmp_path: Path):
    name = "t10k-labels-idx1-ubyte"
    dst = _copy_mnist(mnist_dir, tmp_path, copy=(name,))
    with open(dst / name, "r+b") as handle:
        handle.seek(4)
        handle.write((12345).to_bytes(4, "big"))  # claims 12,345 labels, holds 10,000
    check_files(tmp_path)  # size and magic are fine: only reading finds the problem
    with pytest.raises(DataCorruptError) as info:
        data_mod._read_split(tmp_path, train=False)  # what load_mnist does after check_files
    assert str(raw_dir(tmp_path)) in str(info.value)
    assert "replace the files" in str(info.value)


# --- download path (no network: torchvision's MNIST is replaced) ----------------------------


class _FailingMNIST:
    calls: list = []

    def __init__(self, root, train=True, download=False, **kwargs):
        _FailingMNIST.calls.append((root, train, download))
        raise RuntimeError(
            "Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -3] "
            "Temporary failure in name resolution>"
        )


def test_failing_download_gives_data_unavailable_error(tmp_path: Path, monkeypatch):
    import torchvision.datasets

    _FailingMNIST.calls = []
    monkeypatch.setattr(torchvision.datasets, "MNIST", _FailingMNIST)
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = default_data_dir()  # the per-user cache: the one directory made for a download
    with pytest.raises(DataUnavailableError) as info:
        load_mnist(download=True)
    message = str(info.value)
    assert str(raw_dir(root.resolve())) in message
    assert "RuntimeError" in message and "name resolution" in message
    assert _FailingMNIST.calls and _FailingMNIST.calls[0][2] is True  # download was attempted
    assert root.is_dir()  # the directory was created for the download


def test_download_that_writes_nothing_is_incomplete(tmp_path: Path, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", lambda root, train=True, download=False: None)
    (tmp_path / "x").mkdir()
    with pytest.raises(DataUnavailableError, match="download incomplete"):
        ensure_mnist(tmp_path / "x", download=True)


def test_successful_download_is_used(mnist_dir: Path, tmp_path: Path, monkeypatch):
    import torchvision.datasets

    downloads = []

    def fake_mnist(root, train=True, download=False):
        downloads.append(train)
        if not (Path(root) / "MNIST" / "raw").exists():
            _copy_mnist(mnist_dir, Path(root))

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_mnist)
    (tmp_path / "fresh").mkdir()
    root = ensure_mnist(tmp_path / "fresh", download=True)
    assert root == (tmp_path / "fresh").resolve()
    assert downloads == [True, False]
    assert missing_files(root) == []
    downloads.clear()
    ensure_mnist(tmp_path / "fresh", download=True)
    assert downloads == []  # present: no second download


def test_a_data_dir_that_does_not_exist_is_named_and_not_created(tmp_path: Path):
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(DataUnavailableError, match="does not exist") as info:
        ensure_mnist(missing, download=True)
    assert str(missing) in str(info.value) and not (tmp_path / "no").exists()


def test_a_label_that_is_not_a_digit_gives_data_corrupt_error(mnist_dir: Path, tmp_path: Path):
    name = "t10k-labels-idx1-ubyte"
    dst = _copy_mnist(mnist_dir, tmp_path, copy=(name,))
    with open(dst / name, "r+b") as handle:
        handle.seek(8 + 17)  # the 18th label
        handle.write(bytes([12]))
    with pytest.raises(DataCorruptError, match="a label is 12, not a digit 0-9"):
        data_mod._read_split(tmp_path, train=False)


# --- directories ------------------------------------------------------------------------------


def test_data_dir_resolution(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from-env"))
    assert resolve_data_dir() == (tmp_path / "from-env").resolve()
    assert resolve_data_dir(tmp_path / "explicit") == (tmp_path / "explicit").resolve()
    assert resolve_data_dir(str(tmp_path / "explicit")) == (tmp_path / "explicit").resolve()
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "bnn-playground" / "mnist"
    assert resolve_data_dir() == (tmp_path / "xdg" / "bnn-playground" / "mnist").resolve()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".cache" / "bnn-playground" / "mnist"
    assert raw_dir(Path("/r")) == Path("/r/MNIST/raw")


def test_env_var_is_used_by_load_mnist(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env-dir"))
    with pytest.raises(DataUnavailableError, match=str(tmp_path / "env-dir")):
        load_mnist(download=False)


# --- batching -----------------------------------------------------------------------------------


@pytest.mark.parametrize("count, batch", [(100, 10), (103, 10), (7, 50), (1, 1)])
def test_iterate_batches_covers_every_index_once(count, batch):
    batches = list(iterate_batches(count, batch, torch.Generator().manual_seed(0)))
    assert len(batches) == steps_per_epoch(count, batch) == -(-count // batch)
    assert all(len(b) == batch for b in batches[:-1]) and 1 <= len(batches[-1]) <= batch
    assert sorted(torch.cat(batches).tolist()) == list(range(count))


def test_iterate_batches_shuffles_reproducibly():
    a = torch.cat(list(iterate_batches(50, 8, torch.Generator().manual_seed(1))))
    b = torch.cat(list(iterate_batches(50, 8, torch.Generator().manual_seed(1))))
    c = torch.cat(list(iterate_batches(50, 8, torch.Generator().manual_seed(2))))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, torch.arange(50))
    assert torch.equal(torch.cat(list(iterate_batches(50, 8, shuffle=False))), torch.arange(50))


def _offset_of(original: torch.Tensor, moved: torch.Tensor, max_shift: int) -> tuple[int, int] | None:
    """The (dy, dx) that turns ``original`` (H, W) into ``moved``, zero-filled, or None."""
    padded = torch.nn.functional.pad(original, (max_shift,) * 4)
    height, width = original.shape
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            window = padded[max_shift + dy : max_shift + dy + height, max_shift + dx : max_shift + dx + width]
            if torch.equal(window, moved):
                return dy, dx
    return None


def test_random_shifts_move_each_image_by_its_own_offset_within_the_range():
    images = torch.rand(400, 1, 6, 7) + 0.5  # no zeros: every offset gives a different image
    moved = random_shifts(images, 2, torch.Generator().manual_seed(0))
    assert moved.shape == images.shape and moved.is_contiguous()
    offsets = [_offset_of(a[0], b[0], 2) for a, b in zip(images, moved)]
    assert None not in offsets
    assert set(offsets) == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}  # all 25, each image its own


def test_random_shifts_follow_the_generator_and_zero_is_no_shift():
    images = torch.rand(8, 1, 5, 5)
    first = random_shifts(images, 1, torch.Generator().manual_seed(3))
    assert torch.equal(first, random_shifts(images, 1, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, random_shifts(images, 1, torch.Generator().manual_seed(4)))
    assert random_shifts(images, 0, torch.Generator()) is images


def test_to_device_keeps_root(tiny_data: MnistData):
    moved = tiny_data.to("cpu")
    assert moved.root == tiny_data.root
    assert all(torch.equal(a, b) for a, b in zip(moved.tensors(), tiny_data.tensors()))


def test_module_constants():
    assert data_mod.IDX_MAGIC == {"images": 2051, "labels": 2049}
    assert sum(RAW_FILES.values()) == 47_040_016 + 60_008 + 7_840_016 + 10_008

"""bnn.training.devices: device names checked against what the machine has, one clear sentence otherwise."""

from __future__ import annotations

import sys

import pytest
import torch

from bnn.training.devices import DeviceError, available_devices, describe_device, keep_freed_memory, resolve_device


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_and_cpu(no_gpu):
    for text in ("auto", None, "", " AUTO ", "cpu", "CPU", torch.device("cpu")):
        assert resolve_device(text) == torch.device("cpu")
    assert available_devices() == ["cpu"]


def test_auto_prefers_the_gpu(two_gpus):
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert available_devices()[:3] == ["cpu", "cuda:0", "cuda:1"]
    with pytest.raises(DeviceError, match="there are only 2 CUDA GPU"):
        resolve_device("cuda:2")


@pytest.mark.parametrize(
    "text, message",
    [
        ("cuda", "device 'cuda': no CUDA GPU is usable here"),
        ("cuda:0", "no CUDA GPU is usable here"),
        ("mps", "Apple's MPS is not available here"),
        ("foo", "unknown device 'foo'; choose one of auto, cpu, cuda, cuda:N, mps"),
        ("cuda:x", "unknown device 'cuda:x'"),
        ("meta", "unsupported device 'meta'"),
    ],
)
def test_what_is_not_here_is_one_sentence(no_gpu, text, message):
    with pytest.raises(DeviceError, match=message) as info:
        resolve_device(text)
    assert "\n" not in str(info.value)
    if "usable" in message or "MPS" in message:
        assert str(info.value).endswith("this machine has: cpu")


def test_a_device_is_described_for_a_person():
    assert describe_device(torch.device("cpu")).startswith("cpu (")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_memory_is_kept_for_the_next_tensors():
    assert keep_freed_memory() and keep_freed_memory()  # once per process, then remembered

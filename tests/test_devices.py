"""bnn.training.devices: device names checked against what the machine has, one clear sentence otherwise."""

from __future__ import annotations

import os
import sys
import threading

import pytest
import torch

from bnn.training import devices
from bnn.training.devices import (
    DeviceError,
    available_devices,
    describe_device,
    enter_background,
    keep_freed_memory,
    release_idle_cpu_threads,
    resolve_device,
    set_background_priority,
)


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


def _nice_in_a_thread(work=None) -> tuple[int, int]:
    """(nice before, nice after) of a new thread that calls enter_background, as that thread sees them."""
    seen = []

    def body():
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        enter_background()
        seen.append((before, os.getpriority(os.PRIO_PROCESS, tid)))
        if work is not None:
            work()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return seen[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_a_training_thread_enters_the_background_and_its_torch_threads_follow(monkeypatch):
    monkeypatch.setattr(devices, "_background_nice", 0)
    before, after = _nice_in_a_thread()
    assert after == before  # the notebook's and the CLI's default: priority untouched

    set_background_priority(7)
    workers = {}

    def matmul_and_look():
        torch.set_num_threads(2)  # as a run's thread does (use_cpu_threads_for), whatever ran before
        torch.ones(1 << 21).mul_(2)  # the thread's first parallel operation makes its OpenMP team
        for task in os.listdir(f"/proc/{os.getpid()}/task"):
            workers[int(task)] = os.getpriority(os.PRIO_PROCESS, int(task))

    threads = torch.get_num_threads()
    try:
        before, after = _nice_in_a_thread(matmul_and_look)
    finally:
        torch.set_num_threads(threads)
    assert after == min(19, before + 7)
    assert workers[threading.get_native_id()] == before  # the calling (main) thread keeps its priority
    assert sum(nice == after for nice in workers.values()) >= 2  # the thread and its OpenMP worker
    set_background_priority(0)


def _threads_of_this_process() -> int:
    return len(os.listdir(f"/proc/{os.getpid()}/task"))


@pytest.mark.skipif(devices._loaded_libgomp() is None, reason="GNU OpenMP (Linux's torch wheels) only")
def test_the_thread_that_starts_a_run_lets_its_idle_openmp_workers_go():
    torch.set_num_threads(2)
    torch.ones(1_000_000) + 1  # a parallel op: this thread's OpenMP team of 2, its worker kept for the next op
    with_team = _threads_of_this_process()
    assert release_idle_cpu_threads()
    assert _threads_of_this_process() == with_team - 1  # the worker is gone at once, not after a while
    torch.ones(1_000_000) + 1  # the next parallel op makes a new team: torch works on
    assert _threads_of_this_process() == with_team


THREAD_HEAP_CHURN = """
import ctypes, resource, threading
from bnn.training.devices import keep_freed_memory
assert keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes, libc.memset.argtypes = [ctypes.c_void_p], [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
faults = []
def step():  # 96 MiB in 6 MiB blocks (more than one 64 MiB heap of the thread's arena), written, freed
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    blocks = [libc.malloc(6 << 20) for _ in range(16)]
    for block in blocks:
        libc.memset(block, 1, 6 << 20)
    for block in blocks:
        libc.free(block)
    faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
thread = threading.Thread(target=lambda: [step() for _ in range(3)])
thread.start()
thread.join()
print(faults[1], faults[2])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_training_thread_keeps_its_freed_heaps():
    """A thread's arena keeps a heap that became free (a run trains in a thread): the second and
    third rounds of the same allocations fault no page in (without the top pad: ~9,000 each)."""
    import subprocess

    result = subprocess.run([sys.executable, "-c", THREAD_HEAP_CHURN], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    second, third = map(int, result.stdout.split())
    pages = (16 * (6 << 20)) // os.sysconf("SC_PAGE_SIZE")
    assert second < pages // 20 and third < pages // 20, (second, third)

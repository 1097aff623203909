"""Which torch device to train on: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked
against what this machine has, so a wrong choice is one clear sentence instead of a CUDA error
deep inside a training step.

``auto`` is the first CUDA GPU when there is one, else the CPU (Apple's ``mps`` only when asked
for: some ops still fall back to the CPU there). How many torch threads a run trains with on the CPU:
:func:`cpu_threads_for`; training threads in the background: :func:`set_background_priority`.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading

import torch

from ..config.architecture import plan
from ..config.schema import RunConfig

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


class DeviceError(ValueError):
    """The requested device does not exist here; the message says what does."""


def available_devices() -> list[str]:
    """Every device this machine can train on, e.g. ``["cpu", "cuda:0", "cuda:1"]``."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(text: str | torch.device | None = "auto") -> torch.device:
    """The ``torch.device`` for ``text`` (None or "" mean ``auto``); :class:`DeviceError` if it
    is not a device name or this machine does not have it."""
    if isinstance(text, torch.device):
        text = str(text)
    name = (text or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"unknown device {text!r}; choose one of {', '.join(DEVICE_CHOICES)}") from None
    if device.type == "cpu":
        return torch.device("cpu")
    here = f"this machine has: {', '.join(available_devices())}"
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA"
            raise DeviceError(
                f"device {text!r}: no CUDA GPU is usable here (torch {torch.__version__}, {build}); {here}"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {text!r}: there are only {torch.cuda.device_count()} CUDA GPU(s); {here}")
        return device
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"device {text!r}: Apple's MPS is not available here; {here}")
        return device
    raise DeviceError(f"unsupported device {text!r}; choose one of {', '.join(DEVICE_CHOICES)}")


def describe_device(device: torch.device) -> str:
    """``device`` for a person: ``cpu (2 cores)``, ``cuda:0 (NVIDIA A100)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({os.cpu_count()} cores)"
    return str(device)


MALLOC_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
MALLOC_TOP_PAD = -2
MALLOC_MMAP_THRESHOLD = -3
THREAD_HEAP_BYTES = 64 << 20  # glibc's HEAP_MAX_SIZE on 64-bit: the size of a thread arena's heap
KEPT_FREE_BYTES = 1 << 30  # freed memory the process keeps for its next tensors
LARGEST_HEAP_BLOCK = 32 << 20  # glibc's upper bound for M_MMAP_THRESHOLD on 64-bit


@functools.cache
def keep_freed_memory() -> bool:
    """Have glibc keep freed tensor memory for the next tensors instead of handing it back to the
    system at once (once per process; True when it took effect).

    A training step allocates and frees tensors of megabytes dozens of times. By default glibc
    returns such blocks to the system (``munmap``, heap trimming) and the next tensor of that
    size page-faults its memory back in, page by page: measured here, ``sign`` of a 1024x1024
    tensor took 10.7 ms instead of 0.87 ms, and a binarized CNN's activations 16 ms instead of 4.
    Blocks up to 32 MB now come from the heap, which keeps up to 1 GB it no longer needs (the
    process's memory stays at its peak instead of shrinking between steps).

    A run trains in a thread (:class:`bnn.jobs.training_job.TrainingJob`), and glibc gives a
    thread its own arena of 64 MB heaps; a heap that becomes wholly free is unmapped at once
    whatever the trim threshold says, unless the top pad reaches a heap's size. `best`'s step
    frees such a heap every few steps: a 1-epoch run took 2.1-4.2 M page faults and 4.6-10 s of
    system time, 36-49 ms a step, against 60 thousand faults and 0.4 s with the pad (33-36 ms;
    the same steps in the main thread: 30-33 ms). Not glibc (macOS, Windows, musl): nothing to do."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        kept = libc.mallopt(MALLOC_TRIM_THRESHOLD, KEPT_FREE_BYTES)
        kept = kept and libc.mallopt(MALLOC_TOP_PAD, THREAD_HEAP_BYTES)
        return bool(kept and libc.mallopt(MALLOC_MMAP_THRESHOLD, LARGEST_HEAP_BLOCK))
    except (OSError, AttributeError):
        return False


_background_nice = 0  # nice steps a training thread lowers itself by; 0 leaves its priority alone


def set_background_priority(nice: int) -> None:
    """Make every training thread started from now on in this process run ``nice`` steps below
    normal priority (Linux's nice scale: 0 normal, 19 lowest; 0 turns it off). The app sets it
    (:data:`ui.state.BACKGROUND_NICE`): a browser drawing on the same machine, or the page serving
    another user, then gets the CPU at once when it wants it, and the run takes whatever is left;
    when nothing else wants the CPU the run is exactly as fast as before. The notebook and the CLI
    leave it at 0. Process-wide, like ``torch.set_num_threads``."""
    global _background_nice
    _background_nice = max(0, min(19, int(nice)))


def enter_background() -> bool:
    """Lower the calling thread's CPU priority by the steps :func:`set_background_priority` chose
    (True when it did). Call it first thing in a training thread, before its first torch operation:
    on Linux the nice value belongs to the thread, and torch's OpenMP worker threads, which that
    thread's first parallel operation creates, inherit it; the page's own threads keep normal
    priority. Raising priority again needs privileges, so a thread that entered the background stays
    there until it ends. Elsewhere than Linux (one value per process), nothing changes."""
    if _background_nice <= 0 or not sys.platform.startswith("linux"):
        return False
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + _background_nice)
    except OSError:
        return False
    return True


OMP_PAUSE_SOFT = 1  # omp_pause_resource_t (OpenMP 5.0): let go of the worker threads, keep the runtime


@functools.cache
def _loaded_libgomp() -> ctypes.CDLL | None:
    """The GNU OpenMP runtime torch loaded into this process (None: another runtime, or not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "libgomp" in line}
    except OSError:
        return None
    for path in sorted(paths):
        if os.path.basename(path).startswith("libgomp"):
            try:
                library = ctypes.CDLL(path)
                return library if hasattr(library, "omp_pause_resource_all") else None
            except OSError:
                return None
    return None


def release_idle_cpu_threads() -> bool:
    """Let the calling thread's idle OpenMP worker threads go (True when it did), so that a
    training thread started next keeps the cores to itself.

    torch's CPU ops run on GNU OpenMP, which gives every thread that runs a parallel op its own
    team of worker threads, kept after the op for the next one. A worker waiting for work spins
    for a while (~3 ms) before it sleeps, so a step's next op starts at once; but when more such
    workers exist than cores, libgomp spins only ~100 times, and every op then pays a sleep and a
    wake-up. That is what happened when the CLI loaded MNIST in its main thread (a team of 2) and
    trained `fast` in a job's thread (another team of 2) on 2 cores: a small element-wise op took
    0.09 ms instead of 0.045 and an epoch 4.9-5.4 s instead of 3.3-3.5 s, the same steps in the
    main thread. :meth:`bnn.jobs.training_job.TrainingJob.start` calls this in the thread that
    starts a run (the CLI's and a notebook's main thread, a page's script thread); a torch op
    that thread runs later makes a new team, and while it lives the run pays again. With another
    OpenMP runtime (LLVM's, Intel's: elsewhere than Linux's pip wheels) nothing is done.
    """
    library = _loaded_libgomp()
    return library is not None and library.omp_pause_resource_all(OMP_PAUSE_SOFT) == 0


PARALLEL_MACS_PER_STEP = 100_000_000  # forward multiply-adds of one batch worth a thread per core


def cpu_threads_for(config: RunConfig, cores: int | None = None) -> int:
    """Torch intra-op threads for training ``config`` on the CPU: one per core when a batch's
    forward pass is at least :data:`PARALLEL_MACS_PER_STEP` multiply-adds, else one.

    Every op splits its work across the threads and ends at an OpenMP barrier, so a thread that
    loses its core for a moment holds up the others. Big steps are worth it (2 cores vs 1,
    headless: `fast`, 372M MACs a batch, 1.35x; the `best` CNN 1.6x); small ones gain nothing
    measurable (`seed-fixed`, 24M) and stall whenever another process wakes up, e.g. the browser
    drawing the Train page: there `seed-fixed` ran at 0.48 of its headless speed on 2 threads and
    0.75 on 1 (benchmarks/ui_overhead.py). ``cores`` defaults to ``$OMP_NUM_THREADS`` or the
    cores this process may use.
    """
    if sum(layer.macs for layer in plan(config.model)) * config.train.batch_size < PARALLEL_MACS_PER_STEP:
        return 1
    if cores is None:
        cores = int(os.environ.get("OMP_NUM_THREADS") or len(os.sched_getaffinity(0)))
    return max(1, cores)


def use_cpu_threads_for(config: RunConfig, device: torch.device | str) -> None:
    """Set this thread's torch threads for training ``config`` (:func:`cpu_threads_for`); no-op on a GPU."""
    if torch.device(device).type == "cpu":
        torch.set_num_threads(cpu_threads_for(config))

"""bnn.deploy.formats: a run's network as the packed file, C and ONNX; the downloads; the first pack's one line."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bnn.deploy.formats import download, export_files, write_export
from bnn.jobs.run_folders import load_run
from bnn.xnor import export_packed, packed_from_bytes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def packed():
    return export_packed(load_run(ROOT / "assets" / "pretrained-fast").model().eval())


def test_each_format_is_made_from_the_packed_model(packed):
    files = export_files(packed, "packed", "fast")
    assert list(files) == ["fast.bnnx"]
    x = np.random.default_rng(1).integers(0, 256, (30, 784)) / 255.0
    np.testing.assert_array_equal(packed_from_bytes(files["fast.bnnx"]).scores(x), packed.scores(x))
    assert list(export_files(packed, "c", "fast-seed0")) == ["fast_seed0.c", "fast_seed0.h"]  # C identifiers
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export_files(packed, "tflite", "fast")


def test_the_c_download_is_a_zip_with_the_example(packed):
    name, data, mime = download(packed, "c", "fast")
    assert (name, mime) == ("fast-c.zip", "application/zip")
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["fast/fast.c", "fast/fast.h", "fast/main.c"]
    example = archive.read("fast/main.c").decode()
    assert '#define BNN_HEADER "fast.h"' in example and "bnn_predict(pixels, scores)" in example


def test_write_export_refuses_folders_and_missing_folders(packed, tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        write_export(packed, "packed", tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        write_export(packed, "packed", tmp_path / "no" / "m.bnnx")
    assert write_export(packed, "c", tmp_path / "m.c") == [tmp_path / "m.c", tmp_path / "m.h"]


@pytest.mark.slow  # a fresh Python process
def test_the_first_pack_says_what_it_compiles_on_one_line():
    code = (
        "import bnn; run = bnn.load_run('assets/pretrained-fast'); run.pack(); run.pack(); "
        "bnn.load_packed; print('done')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "XNOR kernels" in line]
    assert len(lines) == 1 and lines[0].startswith("Preparing the XNOR kernels (numba") and lines[0].endswith(" s")


def test_a_cold_kernel_cache_is_filled_by_a_low_priority_child_process(monkeypatch, tmp_path):
    """The app's warm-up compiles the kernels in a `nice` child process when numba's cache is empty (the
    compile then holds neither the server's GIL nor a core at full priority), then loads them."""
    from bnn.deploy import formats as deploy
    from bnn.xnor import kernels

    calls = []
    monkeypatch.setattr(kernels, "is_warm", lambda: False)
    monkeypatch.setattr(kernels, "warm_up", lambda: calls.append("load"))
    monkeypatch.setattr(deploy.subprocess, "run", lambda command, **kw: calls.append(command))
    monkeypatch.setattr(deploy, "KERNEL_CACHE", tmp_path)  # empty: a cold cache
    deploy.prepare_kernels()
    assert calls[0][:3] == ["nice", "-n", "10"] and "kernels.warm_up()" in calls[0][-1] and calls[1] == "load"
    calls.clear()
    (tmp_path / "kernels.run-1.py311.nbi").write_bytes(b"")  # a warm cache: loaded here at once
    deploy.prepare_kernels()
    assert calls == ["load"]


def test_callers_at_the_same_time_start_one_compiling_child(monkeypatch, tmp_path):
    """Every page's warm-up (and every AppTest of the suite) calls prepare_kernels: while the first one's
    child compiles, the others wait for it instead of starting a child each (9 at once were seen)."""
    from bnn.deploy import formats as deploy
    from bnn.xnor import kernels

    children, inside, release = [], threading.Event(), threading.Event()
    warm = []

    def compile_child(command, **kw):
        children.append(command)
        inside.set()
        release.wait(60)
        (tmp_path / "kernels.run-1.py311.nbi").write_bytes(b"")  # the child filled the cache

    monkeypatch.setattr(kernels, "is_warm", lambda: bool(warm))
    monkeypatch.setattr(kernels, "warm_up", lambda: warm.append("load"))
    monkeypatch.setattr(deploy.subprocess, "run", compile_child)
    monkeypatch.setattr(deploy, "KERNEL_CACHE", tmp_path)  # empty: a cold cache
    all_arrived = threading.Event()

    class CountedLock:  # the real lock, counting the callers that arrive at it
        def __init__(self):
            self.lock, self.arrived = threading.Lock(), 0

        def __enter__(self):
            self.arrived += 1
            if self.arrived == 3:
                all_arrived.set()
            self.lock.acquire()

        def __exit__(self, *exc):
            self.lock.release()

    monkeypatch.setattr(deploy, "_compiling", CountedLock())
    callers = [threading.Thread(target=deploy.prepare_kernels) for _ in range(3)]
    callers[0].start()
    assert inside.wait(60)  # the first caller's child is compiling
    for caller in callers[1:]:
        caller.start()
    assert all_arrived.wait(60)  # the other two are at the lock while the child compiles
    release.set()
    for caller in callers:
        caller.join(60)
    assert len(children) == 1 and warm == ["load"]

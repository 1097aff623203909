"""ui.exports: the app's download buttons make each file once per run's weights and format."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnn.jobs.run_folders import load_run
from bnn.xnor import export_packed
from ui import exports

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def packed():
    return export_packed(load_run(ROOT / "assets" / "pretrained-fast").model().eval())


def test_a_download_is_made_once_per_run_and_format(packed, monkeypatch):
    made = []
    monkeypatch.setattr(exports, "download", lambda p, fmt, stem: made.append(fmt) or (stem, b"x", "m"))
    exports._file.cache_clear()
    for _ in range(3):
        assert exports._file("run-key", "onnx", "fast", packed) == b"x"
    exports._file("run-key", "c", "fast", packed)
    assert made == ["onnx", "c"]
    exports._file.cache_clear()

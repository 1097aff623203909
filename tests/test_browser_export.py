"""The Efficiency page's downloads in real Chromium: the packed file, the C zip and the ONNX graph of the
shipped run, each as a browser saves it, read back and checked against the packed engine."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import (  # noqa: E402
    ROOT,
    assert_no_exception,
    browser_available,
    chromium_page,
    streamlit_server,
    wait_for_app,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not browser_available(), reason="no Chromium"),
]
DOWNLOADS = ("Packed model (.bnnx)", "C for a microcontroller (.zip)", "ONNX (.onnx)")


def test_the_three_downloads_of_the_efficiency_page(tmp_path):
    from bnn.jobs.run_folders import load_run
    from bnn.xnor import export_packed, packed_from_bytes

    saved = {}
    with streamlit_server() as url, chromium_page(height=2400) as page:
        page.goto(f"{url}/Efficiency")
        page.wait_for_selector(f"text={DOWNLOADS[1]}", timeout=120_000)
        wait_for_app(page)
        assert_no_exception(page)
        for label in DOWNLOADS:
            with page.expect_download(timeout=60_000) as info:
                page.get_by_role("button", name=label).click()
            path = tmp_path / info.value.suggested_filename
            info.value.save_as(path)
            saved[label] = path
        assert_no_exception(page)
    assert [path.name for path in saved.values()] == [
        "pretrained-fast.bnnx",
        "pretrained-fast-c.zip",
        "pretrained-fast.onnx",
    ]
    expect = export_packed(load_run(ROOT / "assets" / "pretrained-fast").model().eval())
    x = np.random.default_rng(2).integers(0, 256, (40, 784)).astype(np.float32) / 255
    np.testing.assert_array_equal(packed_from_bytes(saved[DOWNLOADS[0]].read_bytes()).scores(x), expect.scores(x))
    archive = zipfile.ZipFile(io.BytesIO(saved[DOWNLOADS[1]].read_bytes()))
    assert sorted(archive.namelist()) == [
        "pretrained-fast/main.c",
        "pretrained-fast/pretrained_fast.c",
        "pretrained-fast/pretrained_fast.h",
    ]
    onnx = pytest.importorskip("onnxruntime")
    session = onnx.InferenceSession(saved[DOWNLOADS[2]].read_bytes(), providers=["CPUExecutionProvider"])
    (scores,) = session.run(["scores"], {"pixels": x.reshape(-1, 1, 28, 28)})
    np.testing.assert_array_equal(scores, expect.scores(x))

"""The exports of `fast` and `best` measured: what a microcontroller needs for the C file, and both the C
file and the ONNX graph against the packed engine on MNIST's 10,000 test images.

    python -m benchmarks.export [--best-run RUN_DIR] [--json] [--data-dir D]

`fast` is the shipped pretrained run (assets/pretrained-fast); `best` is a saved run of the preset
(``--best-run``) or, without one, the preset's network untrained (its sizes are those of any `best`
run; its agreement then tests the arithmetic, not a trained model). For each: flash (const data + code
of a Cortex-M4 build with clang, else of this machine's compiler), RAM (static buffers), which common
microcontrollers it fits; the C file compiled here (gcc -O2) and run on every test image (identical
predictions and float scores? microseconds per image on this CPU); the ONNX graph in onnxruntime
(identical predictions, largest score difference, seconds for the test set, file bytes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bnn.config.presets import PRESETS
from bnn.deploy.c_device import code_bytes, compiler, device_rows
from bnn.deploy.c_functions import BATCH_MAIN
from bnn.deploy.c_source import c_source
from bnn.deploy.onnx_graph import onnx_bytes
from bnn.jobs.run_folders import load_run
from bnn.network.models import build_model
from bnn.training.data import load_mnist
from bnn.xnor import export_packed

ROOT = Path(__file__).resolve().parents[1]


def measure_c(packed, levels: np.ndarray, expect: np.ndarray) -> dict:
    cc = compiler()
    if cc is None:
        return {"c": "no compiler"}
    source = c_source(packed, "bnn_model")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bnn_model.c").write_text(source.source)
        (folder / "bnn_model.h").write_text(source.header)
        (folder / "main.c").write_text(BATCH_MAIN)
        binary = folder / "classify"
        subprocess.run(
            [cc, "-std=c99", "-O2", "-o", str(binary), str(folder / "main.c"), str(folder / "bnn_model.c")], check=True
        )
        started = time.perf_counter()
        out = subprocess.run([str(binary)], input=levels.tobytes(), capture_output=True, check=True).stdout
        seconds = time.perf_counter() - started
    classes = expect.shape[1]
    rec = np.frombuffer(out, dtype=np.int32).reshape(len(levels), 1 + 2 * classes)
    scores = rec[:, 1 + classes :].view(np.float32)
    return {
        "c_same_predictions_pct": round(100 * float(np.mean(rec[:, 0] == expect.argmax(1))), 2),
        "c_scores_identical": bool(np.array_equal(scores, expect)),
        "c_us_per_image_here": round(1e6 * seconds / len(levels), 1),
    }


def measure_onnx(packed, x: torch.Tensor, expect: np.ndarray) -> dict:
    import onnxruntime as ort

    data = onnx_bytes(packed)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    started = time.perf_counter()
    scores, labels = session.run(["scores", "label"], {"pixels": x.numpy()})
    return {
        "onnx_bytes": len(data),
        "onnx_same_predictions_pct": round(100 * float(np.mean(labels == expect.argmax(1))), 2),
        "onnx_max_score_difference": float(np.abs(scores - expect).max()),
        "onnx_test_set_s": round(time.perf_counter() - started, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--best-run", help="a saved run of the best preset (default: its network, untrained)")
    parser.add_argument("--data-dir")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = load_mnist(args.data_dir)
    x = data.test_images
    levels = (x * 255).round().to(torch.uint8).numpy().reshape(len(x), -1)
    torch.manual_seed(0)
    models = {
        "fast": load_run(ROOT / "assets" / "pretrained-fast").model(),
        "best": load_run(args.best_run).model() if args.best_run else build_model(PRESETS["best"].model),
    }
    results = {}
    for name, model in models.items():
        packed = export_packed(model.eval())
        source = c_source(packed)
        measured = code_bytes(source)
        code = measured[0] if measured else None
        expect = packed.scores(x.reshape(len(x), -1).numpy())
        results[name] = {
            "const_bytes": source.const_bytes,
            "code_bytes": code,
            "code_built": measured[1] if measured else None,
            "flash_bytes": source.const_bytes + (code or 0),
            "ram_bytes": source.ram_bytes,
            "fits": {row["part"]: row["fits"] for row in device_rows(source, code)},
            **measure_c(packed, levels, expect),
            **measure_onnx(packed, x, expect),
        }
    if args.json:
        print(json.dumps(results))
        return
    for name, r in results.items():
        fits = ", ".join(f"{part}: {'yes' if ok else 'no'}" for part, ok in r["fits"].items())
        print(
            f"{name}: flash {r['flash_bytes']:,} B ({r['const_bytes']:,} const + {r['code_bytes']} code, "
            f"{r['code_built']}), RAM {r['ram_bytes']:,} B; fits: {fits}"
        )
        print(
            f"  C: {r['c_same_predictions_pct']}% same predictions, scores identical: {r['c_scores_identical']}, "
            f"{r['c_us_per_image_here']} us/image here; ONNX: {r['onnx_same_predictions_pct']}% same predictions, "
            f"max score difference {r['onnx_max_score_difference']}, {r['onnx_bytes']:,} B, "
            f"{r['onnx_test_set_s']} s for 10,000 images"
        )


if __name__ == "__main__":
    main()

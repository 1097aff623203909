"""This machine's matrix-product floor for one epoch of `fast`: the time its GEMMs alone would take.

One training step of `fast` (batch 200; 784 -> 1024 -> 1024 -> 10) is nine matrix products: per
layer the forward product ``x @ W.T``, the input gradient ``g @ W`` (not for the first layer: the
pixels need none) and the weight gradient ``g.T @ x``. This script times each of those shapes with
torch on this machine, in float32, in bfloat16 (exact for ±1 x ±1 products, with float32 sums) and,
for the forward products of the binarized layers, in int8 with int32 sums (``torch._int_mm``), and
prints the seconds one epoch (60,000 images, 300 steps) would spend in them at each precision: a
floor no training step can beat with that arithmetic, since it leaves out everything else (sign,
BatchNorm, the optimizer, the data). benchmarks/vs_larq.py and the README compare `fast` against it.

    python -m benchmarks.floor [--threads 2] [--repeats 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

BATCH = 200  # the `fast` preset's batch size
TRAIN_IMAGES = 60_000  # MNIST's training set: steps per epoch = TRAIN_IMAGES / BATCH
WIDTHS = (784, 1024, 1024, 10)  # `fast`: pixels, two hidden layers, the classes


def step_products() -> list[tuple[str, int, int, int, bool]]:
    """(name, m, k, n, binary) of every matrix product of one step: an (m, k) @ (k, n) product.
    ``binary``: both operands are ±1 (the forward product of a layer on binarized activations)."""
    products = []
    for layer, (fan_in, units) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
        name = f"layer{layer + 1}"
        products.append((f"{name} forward", BATCH, fan_in, units, layer > 0))
        if layer > 0:
            products.append((f"{name} input gradient", BATCH, units, fan_in, False))
        products.append((f"{name} weight gradient", units, BATCH, fan_in, False))
    return products


def seconds_per_product(m: int, k: int, n: int, dtype: torch.dtype, repeats: int) -> float:
    """The median time of an (m, k) @ (k, n) product in ``dtype`` (int8: ``torch._int_mm``)."""
    if dtype == torch.int8:
        # _int_mm wants m > 16 and k, n multiples of 8: pad the shape, as a kernel would
        def pad(v: int) -> int:
            return max(17, v) if v == m else -(-v // 8) * 8

        a = torch.randint(-1, 2, (pad(m), pad(k)), dtype=torch.int8)
        b = torch.randint(-1, 2, (pad(k), pad(n)), dtype=torch.int8)

        def product() -> torch.Tensor:
            return torch._int_mm(a, b)
    else:
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)

        def product() -> torch.Tensor:
            return a @ b

    for _ in range(3):
        product()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps = TRAIN_IMAGES // BATCH
    rows = []
    for name, m, k, n, binary in step_products():
        row = {"product": name, "shape": [m, k, n], "flop": 2 * m * k * n}
        row["float32_s"] = seconds_per_product(m, k, n, torch.float32, args.repeats)
        row["bfloat16_s"] = seconds_per_product(m, k, n, torch.bfloat16, args.repeats)
        row["int8_s"] = seconds_per_product(m, k, n, torch.int8, args.repeats) if binary else None
        rows.append(row)
    flop = sum(r["flop"] for r in rows)
    floors = {
        "float32": steps * sum(r["float32_s"] for r in rows),
        "bfloat16": steps * sum(r["bfloat16_s"] for r in rows),
        # the exact mix: binary forward products in int8, everything else in float32
        "int8_forward_float32_rest": steps * sum(r["int8_s"] or r["float32_s"] for r in rows),
    }
    result = {
        "threads": args.threads,
        "steps_per_epoch": steps,
        "tflop_per_epoch": round(steps * flop / 1e12, 3),
        "epoch_floor_s": {key: round(value, 3) for key, value in floors.items()},
        "gflop_per_s": {key: round(steps * flop / value / 1e9, 1) for key, value in floors.items()},
        "products": rows,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"`fast`, one epoch = {steps} steps of 9 products, {result['tflop_per_epoch']} TFLOP, {args.threads} threads")
    for r in rows:
        int8 = f"{r['int8_s'] * 1e3:7.3f}" if r["int8_s"] is not None else "      -"
        print(
            f"  {r['product']:<24} {'x'.join(map(str, r['shape'])):>15}  float32 {r['float32_s'] * 1e3:7.3f} ms"
            f"  bfloat16 {r['bfloat16_s'] * 1e3:7.3f} ms  int8 {int8} ms"
        )
    for key, value in floors.items():
        print(f"epoch floor, {key}: {value:.2f} s ({result['gflop_per_s'][key]} GFLOP/s)")


if __name__ == "__main__":
    main()

"""This machine's matrix-product floor for one epoch of `fast`: the time its GEMMs alone would take.

One training step of `fast` (batch 200; 784 -> 1024 -> 1024 -> 10) is nine matrix products: per
layer the forward product ``x @ W.T``, the input gradient ``g @ W`` (not for the first layer: the
pixels need none) and the weight gradient ``g.T @ x``. This script times each of those shapes with
torch on this machine, in float32, in bfloat16 (exact for ±1 x ±1 products, with float32 sums) and,
for the forward products of the binarized layers, in int8 with int32 sums (``torch._int_mm``), and
prints the seconds one epoch (60,000 images, 300 steps) would spend in them at each precision: a
floor no training step can beat with that arithmetic, since it leaves out everything else (sign,
BatchNorm, the optimizer, the data). benchmarks/vs_larq.py and the README compare `fast` against it.

It also runs whole steps of nothing but those products back to back (bfloat16, int8 forward, the
conversions between them), then the same with the work the weights need at every step whatever
the rest of the step does (clip to [-1, 1], their signs in int8, fused Adam on the three weight
matrices; the bfloat16 copies of the signs for the input gradients are in both): the products
alone fit in a warm cache, the weights' own work streams 35 MB through memory, which is what a
real step pays too.

    python -m benchmarks.floor [--threads 2] [--repeats 30] [--steps 100] [--json]
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


class ProductsStep:
    """One step of `fast`'s products as the lean step computes them, on random data of its
    shapes: int8 forward products on ±1 (and on 8-bit pixel codes for the first layer), bfloat16
    backward products of a float32 gradient, float32 results; ``weights=True`` adds the weights'
    own work: clip, int8 signs from the latent weights, a fused Adam step (without it the signs
    are computed once, and only their bfloat16 copies are made at every step)."""

    def __init__(self, weights: bool) -> None:
        self.weights = weights
        shapes = list(zip(WIDTHS[1:], WIDTHS[:-1]))  # (units, fan_in) per layer
        self.latent = [torch.nn.Parameter(torch.rand(units, fan_in) * 2 - 1) for units, fan_in in shapes]
        self.optimizer = torch.optim.Adam(self.latent, lr=1e-3, fused=True)
        self.codes = torch.randint(-128, 128, (BATCH, WIDTHS[0]), dtype=torch.int8)  # the pixels, p - 128
        self.inputs = [torch.randint(0, 2, (BATCH, fan_in), dtype=torch.int8) * 2 - 1 for _, fan_in in shapes[1:]]
        self.grads = [torch.randn(BATCH, units) for units, _ in shapes]
        self.fixed_signs = self.signs()

    @torch.no_grad()
    def signs(self) -> list[torch.Tensor]:
        for w in self.latent:
            w.clamp_(-1, 1)
        return [torch.sign(w).to(torch.int8) for w in self.latent]

    def __call__(self) -> None:
        signs = self.signs() if self.weights else self.fixed_signs
        x = [self.codes, *self.inputs]
        weight_grads = []
        for layer, (w8, x8, g) in enumerate(zip(signs, x, self.grads)):
            if w8.shape[0] % 8 == 0:
                torch._int_mm(x8, w8.t()).float()  # forward, exact
            else:  # the 10 outputs: too few for _int_mm
                (x8.float() @ w8.float().t())
            rounded = g.bfloat16()
            if layer > 0:
                (rounded @ w8.bfloat16()).float()  # input gradient
            weight_grads.append((rounded.t() @ x8.bfloat16()).float())  # weight gradient
        if self.weights:
            for w, grad in zip(self.latent, weight_grads):
                w.grad = grad
            self.optimizer.step()


def step_seconds(steps: int, rounds: int = 5) -> dict[str, float]:
    """Seconds per :class:`ProductsStep` without and with the weights' work: each the median of
    ``rounds`` runs of ``steps`` steps, the two kinds alternating (the machine's speed drifts)."""
    kinds = {"products": ProductsStep(weights=False), "products_and_weights": ProductsStep(weights=True)}
    runs: dict[str, list[float]] = {kind: [] for kind in kinds}
    for step in kinds.values():
        for _ in range(10):
            step()
    for _ in range(rounds):
        for kind, step in kinds.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            runs[kind].append((time.perf_counter() - start) / steps)
    return {kind: sorted(times)[len(times) // 2] for kind, times in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--steps", type=int, default=100, help="steps per run of the whole-step floors")
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
        "step_s": step_seconds(args.steps),
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
    for key, words in (("products", "products alone"), ("products_and_weights", "products + clip, signs, Adam")):
        seconds = result["step_s"][key]
        print(f"whole steps, {words}: {seconds * 1e3:.2f} ms a step, {seconds * steps:.2f} s an epoch")


if __name__ == "__main__":
    main()

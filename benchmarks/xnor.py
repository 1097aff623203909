"""Packed XNOR-popcount inference (bnn.xnor) vs float32 PyTorch: agreement, latency, throughput, bytes.

    python -m benchmarks.xnor [--json] [--epochs N] [--quick] [--steps N] [--threads T]
                              [--model RUN_DIR] [--fast-model RUN_DIR] [--cnn-model RUN_DIR] [--cnn-only]
                              [--save-runs DIR] [--latency-images N] [--batches N] [--data-dir D]

Three models are trained with ``bnn.training.loop.Trainer`` (Adam, lr 1e-2 -> 1e-4 exponential, batch 100,
cross-entropy, latent weights clipped after every step) for ``--epochs`` epochs (default 1), or
for ``--steps`` steps with ``--quick`` (a training subset of steps * 100 images, so the lr
schedule still runs to its end); ``--model`` / ``--fast-model`` / ``--cnn-model`` load saved runs
instead, and ``--cnn-only`` measures the CNN alone:

* ``fast``:  ModelConfig() defaults, 784-1024-1024-10;
* ``paper``: 784-4096-4096-4096-10, binary weights everywhere, binary hidden activations,
  output BatchNorm with real-valued outputs;
* ``cnn``: the ``best`` preset's binary CNN (conv 32 + pool, conv 64 + pool, 512, 10).

Measured for both: agreement of packed vs float predictions on all 10,000 test images
(``model.eval()``, ``model(x).argmax(1)``, batches of 1,000), the largest score difference, how
many of the latency images get bit-identical scores at batch size 1, single-image latency
(median over many different images, packed and float interleaved image by image), batch-100 and
batch-1000 throughput, the whole test set through both engines (float in batches of 1,000, packed
in one call; 3 interleaved repeats, :func:`bnn.xnor.timing.time_test_set`, as the Efficiency page),
``words_per_second`` of the busiest fused kernel (the widest binarized XNOR layer at batch 1,000;
scalar code reaches about one word per cycle and core, AVX-512 ``vpopcntq`` several), and bytes.
The float32 baseline is the same network with ``sign(W)`` computed once (plain ``F.linear`` on
±1 float32 weights, the fastest float32 PyTorch form); the trained
``BinaryNet.forward`` (which re-binarizes its weights on every call) is timed too.
``torch.set_num_threads(T)`` and the packed engine's ``threads`` are the same T (printed).
The machine may be shared: only ratios measured within this run are meaningful.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch

from bnn.config.model_settings import LayerConfig, ModelConfig
from bnn.config.presets import PRESETS
from bnn.config.schema import RunConfig
from bnn.config.train_settings import TrainConfig
from bnn.network.binarize import sign
from bnn.network.models import BinaryNet, build_model
from bnn.training.data import iterate_batches, load_mnist
from bnn.xnor import export_packed, float_nbytes, load_packed, save_packed
from bnn.xnor.timing import SINGLE_IMAGE_BLOCK, float_predict, time_test_set, xnor_words_per_second

PAPER_MODEL = ModelConfig(
    layers=(LayerConfig(4096), LayerConfig(4096), LayerConfig(4096), LayerConfig(10, binarize_activations=False)),
)
FAST_MODEL = ModelConfig()
CNN_MODEL = PRESETS["best"].model
TRAIN = TrainConfig(
    optimizer="adam",
    lr=1e-2,
    lr_end=1e-4,
    schedule="exponential",
    loss="cross_entropy",
    batch_size=100,
    epochs=1,
    clip_latent=True,
    seed=0,
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- training -------------------------------------------------------------------------------------


def train_model(
    model_cfg: ModelConfig, data, epochs: int, steps: int | None, label: str
) -> tuple[BinaryNet, dict, RunConfig]:
    train_cfg = replace(TRAIN, epochs=epochs)
    if steps is not None:
        train_cfg = replace(train_cfg, epochs=1, train_subset=steps * train_cfg.batch_size)
    config = RunConfig(model=model_cfg, train=train_cfg)
    started = time.perf_counter()
    try:
        from bnn.training.loop import Trainer
    except ImportError:  # the lead's trainer is not there: a plain loop with the same recipe
        Trainer = None
    if Trainer is not None:
        trainer = Trainer(config, data, device="cpu")
        for epoch in range(train_cfg.epochs):
            for step, indices in enumerate(
                iterate_batches(len(trainer.data.train_labels), train_cfg.batch_size, trainer.generator)
            ):
                trainer.train_step(trainer.data.train_images[indices], trainer.data.train_labels[indices])
                if (step + 1) % 100 == 0:
                    log(f"  {label}: epoch {epoch + 1} step {step + 1}/{trainer.steps_per_epoch}")
        trained, total = trainer.model, trainer.step
    else:
        trained, total = _simple_train(config, data, label)
    trained.eval()
    return trained, {"steps": total, "train_seconds": round(time.perf_counter() - started, 1)}, config


def _simple_train(config: RunConfig, data, label: str) -> tuple[BinaryNet, int]:
    from bnn.network.layers import clip_latent_weights

    torch.manual_seed(config.train.seed)
    model = build_model(config.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    images, labels = data.train_images, data.train_labels
    if config.train.train_subset:
        images, labels = images[: config.train.train_subset], labels[: config.train.train_subset]
    per_epoch = -(-len(labels) // config.train.batch_size)
    total = per_epoch * config.train.epochs
    generator = torch.Generator().manual_seed(config.train.seed)
    step = 0
    for _ in range(config.train.epochs):
        for indices in iterate_batches(len(labels), config.train.batch_size, generator):
            lr = config.train.lr * (config.train.lr_end / config.train.lr) ** (step / max(total - 1, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            model.train()
            loss = torch.nn.functional.cross_entropy(model(images[indices]), labels[indices])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            clip_latent_weights(model)
            step += 1
            if step % 100 == 0:
                log(f"  {label}: step {step}/{total}")
    return model, step


def load_model(path: str) -> BinaryNet:
    from bnn.jobs.run_folders import load_run

    model = load_run(path).model()
    if model is None:
        raise SystemExit(f"{path}: the run has no weights")
    return model


def fresh_copy(model: BinaryNet) -> BinaryNet:
    """Same weights, no hooks (the trainer's saturation hooks would slow every forward)."""
    copy = build_model(model.config)
    copy.load_state_dict(model.state_dict())
    return copy.eval()


def frozen_float(model: BinaryNet) -> BinaryNet:
    """The float32 baseline: sign(W) computed once, then plain F.linear on ±1 float32 weights."""
    frozen = fresh_copy(model)
    with torch.no_grad():
        for block in frozen.blocks:
            if block.linear.binarize_weights:
                block.linear.weight.copy_(sign(block.linear.weight))
                block.linear.binarize_weights = False
    return frozen


# --- measurements --------------------------------------------------------------------------------


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def _timed(times: list[float], call) -> None:
    """Run ``call()`` and append its wall time in seconds to ``times``."""
    started = time.perf_counter()
    call()
    times.append(time.perf_counter() - started)


def popcount_strategies(words: int = 1 << 18, repeats: int = 15) -> dict[str, float]:
    """ns per uint64 word of popcount(a XOR b) summed per 64-word row, for several strategies."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, size=(words // 64, 64), dtype=np.uint64)
    b = rng.integers(0, 2**63, size=(words // 64, 64), dtype=np.uint64)
    lut8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    lut16 = np.array([bin(i).count("1") for i in range(1 << 16)], dtype=np.uint8)
    m1, m2, m4 = np.uint64(0x5555555555555555), np.uint64(0x3333333333333333), np.uint64(0x0F0F0F0F0F0F0F0F)
    h01 = np.uint64(0x0101010101010101)
    ta, tb = torch.from_numpy(a.view(np.int64)), torch.from_numpy(b.view(np.int64))

    def np_bitwise_count():
        return np.add.reduce(np.bitwise_count(a ^ b), axis=1, dtype=np.uint16)

    def byte_lut():
        x = (a ^ b).view(np.uint8)
        return np.add.reduce(np.take(lut8, x), axis=1, dtype=np.uint16)

    def lut_16bit():
        x = (a ^ b).view(np.uint16)
        return np.add.reduce(np.take(lut16, x), axis=1, dtype=np.uint16)

    def numpy_swar():
        x = a ^ b
        x = x - ((x >> np.uint64(1)) & m1)
        x = (x & m2) + ((x >> np.uint64(2)) & m2)
        x = (x + (x >> np.uint64(4))) & m4
        return ((x * h01) >> np.uint64(56)).sum(axis=1)

    def torch_swar():
        x = torch.bitwise_xor(ta, tb)
        x = x - ((x >> 1) & 0x5555555555555555)
        x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333)
        x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F
        return (((x * 0x0101010101010101) >> 56) & 0xFF).sum(dim=1)

    strategies = {
        "numpy bitwise_count": np_bitwise_count,
        "byte lookup table": byte_lut,
        "16-bit lookup table": lut_16bit,
        "numpy SWAR": numpy_swar,
        "torch SWAR (int64)": torch_swar,
    }
    if hasattr(torch.Tensor, "bitwise_count"):
        strategies["torch bitwise_count"] = lambda: torch.bitwise_xor(ta, tb).bitwise_count().sum(dim=1)
    reference = np.asarray(np_bitwise_count(), dtype=np.int64)
    results = {}
    for name, fn in strategies.items():
        got = fn()
        got = got.numpy() if isinstance(got, torch.Tensor) else got
        if not np.array_equal(np.asarray(got, dtype=np.int64), reference):
            raise AssertionError(f"popcount strategy {name} is wrong")
        times = []
        for _ in range(repeats):
            _timed(times, fn)
        results[name] = round(statistics.median(times) / words * 1e9, 3)
    return results


def agreement(model: BinaryNet, packed, images: torch.Tensor, batch: int = 1000) -> dict:
    same, max_diff, max_score = 0, 0.0, 0.0
    float_pred, packed_pred = [], []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = images[start : start + batch]
            scores = model(x)
            packed_scores = packed.scores(x.numpy())
            fp = scores.argmax(1).numpy()
            pp = np.argmax(packed_scores, axis=1)
            same += int((fp == pp).sum())
            max_diff = max(max_diff, float(np.abs(scores.numpy() - packed_scores).max()))
            max_score = max(max_score, float(scores.abs().max()))
            float_pred.append(fp)
            packed_pred.append(pp)
    return {
        "agreement": 100.0 * same / len(images),
        "disagreements": len(images) - same,
        "max_score_diff": max_diff,
        "max_abs_score": max_score,
        "float_pred": np.concatenate(float_pred),
        "packed_pred": np.concatenate(packed_pred),
    }


def latency(
    model: BinaryNet, frozen: BinaryNet, packed, images: torch.Tensor, count: int, model_count: int = 10
) -> dict:
    """Per single image: frozen float32 and packed; medians in ms.

    Each engine answers ``SINGLE_IMAGE_BLOCK`` images in a row, the two engines' blocks alternating
    (so a busy moment of the machine hits both alike), as the Efficiency page times them: an engine
    serving single images keeps its own working set in the cache, as a deployed one does.
    Alternating image by image would time the packed engine right after the float model has
    streamed its 147 MB of weights through the cache, which evicts the packed engine's 4.6 MB every
    time (docs/xnor.md). The first image of each block (``*_first_ms``: caches just filled by the
    other engine, its OpenMP threads maybe still spinning) is reported apart.
    ``BinaryNet.forward`` (re-binarizes every weight on every call: seconds per image for the
    3x4096 model on this machine) is timed on the first ``model_count`` images only.
    """
    timings: dict[str, list[float]] = {"float": [], "model_forward": [], "packed": []}
    first: dict[str, list[float]] = {"float": [], "packed": []}
    identical, b1_vs_batched = 0, 0.0
    singles = [images[i : i + 1] for i in range(count)]
    with torch.inference_mode():
        for x in singles[:3]:  # warm-up
            frozen(x).argmax(1)
            packed.predict(x.numpy())
        for start in range(0, count, SINGLE_IMAGE_BLOCK):
            block = singles[start : start + SINGLE_IMAGE_BLOCK]
            for x in block:
                _timed(timings["float"], lambda x=x: frozen(x).argmax(1))
            first["float"].append(timings["float"][-len(block)])
            for xn in [x.numpy() for x in block]:
                _timed(timings["packed"], lambda xn=xn: packed.predict(xn))
            first["packed"].append(timings["packed"][-len(block)])
        for x in singles[:model_count]:
            _timed(timings["model_forward"], lambda x=x: model(x).argmax(1))
        batched = frozen(images[:count])
        for i, x in enumerate(singles):
            float_b1 = frozen(x)  # same float32 numbers as model(x): sign(W) precomputed
            identical += int(np.array_equal(float_b1.numpy(), packed.scores(x.numpy())))
            b1_vs_batched = max(b1_vs_batched, float((float_b1[0] - batched[i]).abs().max()))
    result = {f"{k}_ms": round(_median_ms(v), 4) for k, v in timings.items()}
    result.update({f"{k}_first_ms": round(_median_ms(v), 4) for k, v in first.items()})
    result["images"] = count
    result["block"] = SINGLE_IMAGE_BLOCK
    result["model_forward_images"] = min(count, model_count)
    result["ratio"] = round(result["float_ms"] / result["packed_ms"], 2)
    result["ratio_vs_model_forward"] = round(result["model_forward_ms"] / result["packed_ms"], 2)
    result["b1_identical_scores"] = identical
    result["float_b1_vs_batched_max_diff"] = b1_vs_batched
    return result


def throughput(frozen: BinaryNet, packed, images: torch.Tensor, batches: int, batch: int = 100) -> dict:
    timings: dict[str, list[float]] = {"float": [], "packed": []}
    with torch.inference_mode():
        frozen(images[:batch]).argmax(1)
        packed.predict(images[:batch].numpy())
        for b in range(batches):
            start = (b * batch) % max(1, len(images) - batch + 1)
            x = images[start : start + batch]
            xn = x.numpy()
            _timed(timings["float"], lambda x=x: frozen(x).argmax(1))
            _timed(timings["packed"], lambda xn=xn: packed.predict(xn))
    f_ms, p_ms = _median_ms(timings["float"]), _median_ms(timings["packed"])
    return {
        "batch": batch,
        "batches": batches,
        "float_ms": round(f_ms, 3),
        "packed_ms": round(p_ms, 3),
        "float_images_per_s": round(batch / f_ms * 1e3, 1),
        "packed_images_per_s": round(batch / p_ms * 1e3, 1),
        "ratio": round(f_ms / p_ms, 2),
    }


def bench_model(name: str, model: BinaryNet, data, threads: int, latency_images: int, batches: int) -> dict:
    model = fresh_copy(model)
    frozen = frozen_float(model)
    test_x, test_y = data.test_images, data.test_labels
    started = time.perf_counter()
    packed = export_packed(model, threads=threads)
    export_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{name}.bnnx")
        file_bytes = save_packed(packed, path)
        reloaded = load_packed(path, threads=threads)
    agree = agreement(model, reloaded, test_x)
    frozen_pred = torch.from_numpy(float_predict(frozen, test_x))
    lat = latency(model, frozen, reloaded, test_x, latency_images)
    thr = throughput(frozen, reloaded, test_x, batches)
    thr1000 = throughput(frozen, reloaded, test_x, max(3, batches // 3), batch=1000)
    testset = time_test_set(frozen, reloaded, test_x, repeats=3)
    busiest = max(
        (layer for layer in reloaded.layers if layer.kind == "xnor" and layer.output == "bits"),
        key=lambda layer: layer.out_features * layer.words,
        default=None,
    )
    words_per_s = xnor_words_per_second(busiest, 1000, threads) if busiest is not None else None
    f_bytes = float_nbytes(model)
    return {
        "name": name,
        "shape": "-".join([str(int(np.prod(model.config.image_shape)))] + [str(l.units) for l in model.config.layers]),
        "layer_kinds": [layer.kind for layer in reloaded.layers],
        "test_accuracy_float": round(
            100.0 * float((torch.from_numpy(agree["float_pred"]) == test_y).float().mean()), 2
        ),
        "test_accuracy_packed": round(100.0 * float((agree["packed_pred"] == test_y.numpy()).mean()), 2),
        "agreement": agree["agreement"],
        "disagreements": agree["disagreements"],
        "frozen_float_agreement": 100.0 * float((frozen_pred.numpy() == agree["float_pred"]).mean()),
        "max_score_diff": agree["max_score_diff"],
        "max_abs_score": agree["max_abs_score"],
        "export_seconds": round(export_s, 2),
        "latency_b1": lat,
        "throughput_b100": thr,
        "throughput_b1000": thr1000,
        "testset": {
            "images": testset["n"],
            "float_s": round(testset["float_s"], 4),
            "packed_s": round(testset["packed_s"], 4),
            "ratio": round(testset["ratio"], 2),
            "agreement": 100.0 * float((testset["float_pred"] == testset["packed_pred"]).mean()),
        },
        "busiest_kernel": None
        if busiest is None
        else {
            "layer": f"{busiest.name} ({busiest.in_features}x{busiest.out_features}, batch 1000)",
            "words_per_second": round(words_per_s),
        },
        "float_bytes": f_bytes,
        "packed_bytes": reloaded.nbytes,
        "file_bytes": file_bytes,
        "compression": round(f_bytes / reloaded.nbytes, 1),
    }


# --- report ------------------------------------------------------------------------------------------


def print_report(result: dict) -> None:
    print(f"torch.set_num_threads({result['threads']}) for float32 torch; packed engine threads={result['threads']}")
    print(f"numpy {np.__version__}, torch {torch.__version__}, {os.cpu_count()} CPUs")
    if "popcount_ns_per_word" in result:
        print("\npopcount(a XOR b) + row sums, ns per 64-bit word (2 MB of words; lower is better):")
        best = min(result["popcount_ns_per_word"], key=result["popcount_ns_per_word"].get)
        for name, ns in result["popcount_ns_per_word"].items():
            print(f"  {name:24s} {ns:7.3f}{'  <- fastest' if name == best else ''}")
        print(f"  engine uses: {result['popcount_used']}")
    rows = [
        ("shape", lambda m: m["shape"]),
        ("layer kinds (packed)", lambda m: ",".join(m["layer_kinds"])),
        ("training steps", lambda m: str(m["train"].get("steps", "loaded"))),
        ("test accuracy float %", lambda m: f"{m['test_accuracy_float']:.2f}"),
        ("test accuracy packed %", lambda m: f"{m['test_accuracy_packed']:.2f}"),
        ("agreement on 10k test %", lambda m: f"{m['agreement']:.2f} ({m['disagreements']} differ)"),
        ("max |score diff|", lambda m: f"{m['max_score_diff']:.3g} (scores up to {m['max_abs_score']:.3g})"),
        ("b1 bit-identical scores", lambda m: f"{m['latency_b1']['b1_identical_scores']}/{m['latency_b1']['images']}"),
        ("float b1 vs batched diff", lambda m: f"{m['latency_b1']['float_b1_vs_batched_max_diff']:.3g}"),
        ("b1 latency float32 ms", lambda m: f"{m['latency_b1']['float_ms']:.3f}"),
        (
            "b1 latency BinaryNet ms",
            lambda m: f"{m['latency_b1']['model_forward_ms']:.3f} ({m['latency_b1']['model_forward_images']} img)",
        ),
        ("b1 latency packed ms", lambda m: f"{m['latency_b1']['packed_ms']:.3f}"),
        (
            "b1 first of a block ms",
            lambda m: f"{m['latency_b1']['float_first_ms']:.3f} / {m['latency_b1']['packed_first_ms']:.3f}",
        ),
        ("b1 speed-up vs float32", lambda m: f"{m['latency_b1']['ratio']:.2f}x"),
        ("b1 speed-up vs BinaryNet", lambda m: f"{m['latency_b1']['ratio_vs_model_forward']:.2f}x"),
        ("b100 float32 img/s", lambda m: f"{m['throughput_b100']['float_images_per_s']:.0f}"),
        ("b100 packed img/s", lambda m: f"{m['throughput_b100']['packed_images_per_s']:.0f}"),
        ("b100 throughput ratio", lambda m: f"{m['throughput_b100']['ratio']:.2f}x"),
        ("b1000 float32 img/s", lambda m: f"{m['throughput_b1000']['float_images_per_s']:.0f}"),
        ("b1000 packed img/s", lambda m: f"{m['throughput_b1000']['packed_images_per_s']:.0f}"),
        ("b1000 throughput ratio", lambda m: f"{m['throughput_b1000']['ratio']:.2f}x"),
        ("10k test set float32 s", lambda m: f"{m['testset']['float_s']:.3f}"),
        ("10k test set packed s", lambda m: f"{m['testset']['packed_s']:.3f}"),
        ("10k test set ratio", lambda m: f"{m['testset']['ratio']:.2f}x"),
        (
            "busiest kernel Gwords/s",
            lambda m: "-" if m["busiest_kernel"] is None else f"{m['busiest_kernel']['words_per_second'] / 1e9:.2f}",
        ),
        ("float32 bytes (params)", lambda m: f"{m['float_bytes']:,}"),
        ("packed bytes (arrays)", lambda m: f"{m['packed_bytes']:,}"),
        ("packed file bytes", lambda m: f"{m['file_bytes']:,}"),
        ("compression", lambda m: f"{m['compression']:.1f}x"),
        ("export s", lambda m: f"{m['export_seconds']:.2f}"),
    ]
    titles = {"fast": "fast", "paper": "paper 3x4096", "cnn": "cnn (best)"}
    models = list(result["models"].values())
    print(f"\n{'':26s}" + "".join(f"{titles[m['name']]:>30s}" for m in models))
    for label, fn in rows:
        print(f"{label:26s}" + "".join(f"{fn(m):>30s}" for m in models))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per model (default 1)")
    parser.add_argument("--quick", action="store_true", help="train for --steps steps only, fewer timings")
    parser.add_argument("--steps", type=int, default=None, help="training steps with --quick (default 60)")
    parser.add_argument("--threads", type=int, default=None, help="torch and packed threads (default: torch's)")
    parser.add_argument("--model", help="a saved run folder to use as the 3x4096 model instead of training")
    parser.add_argument("--fast-model", help="a saved run to use as the fast model instead of training")
    parser.add_argument("--cnn-model", help="a saved run to use as the CNN (the best preset's) instead of training")
    parser.add_argument("--cnn-only", action="store_true", help="measure the CNN only (its keys in the JSON)")
    parser.add_argument("--save-runs", help="save the trained models as runs in this directory")
    parser.add_argument("--latency-images", type=int, default=None, help="single images timed (default 300)")
    parser.add_argument("--batches", type=int, default=None, help="batches of 100 timed (default 30)")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)

    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    steps = (args.steps or 60) if args.quick else None
    latency_images = args.latency_images or (100 if args.quick else 300)
    batches = args.batches or (10 if args.quick else 30)
    data = load_mnist(args.data_dir)

    result: dict = {
        "threads": threads,
        "popcount_used": "fused numba kernel, LLVM ctpop (numpy bitwise_count in the reference engine)",
    }
    result["models"] = {}
    measured_models = [("cnn", CNN_MODEL, args.cnn_model)]
    if not args.cnn_only:
        log("popcount strategies ...")
        result["popcount_ns_per_word"] = popcount_strategies()
        measured_models = [("fast", FAST_MODEL, args.fast_model), ("paper", PAPER_MODEL, args.model)] + measured_models
    for name, cfg, path in measured_models:
        if path:
            log(f"{name}: loading {path}")
            model, train_info = load_model(path), {"loaded": path}
        else:
            log(f"{name}: training {f'{steps} steps' if steps else f'{args.epochs} epoch(s)'} ...")
            model, train_info, run_cfg = train_model(cfg, data, args.epochs, steps, name)
            if args.save_runs:
                from bnn.jobs.run import Run, Status
                from bnn.jobs.run_folders import save_run

                run = Run(name=f"xnor-bench-{name}", config=run_cfg, status=Status.FINISHED)
                train_info["saved"] = str(save_run(run, args.save_runs, model=model).path)
        log(f"{name}: measuring ...")
        measured = bench_model(name, model, data, threads, latency_images, batches)
        measured["train"] = train_info
        result["models"][name] = measured

    cnn = result["models"]["cnn"]
    cnn_summary = {
        "cnn_agreement": cnn["agreement"],
        "cnn_latency_ratio_b1": cnn["latency_b1"]["ratio"],
        "cnn_testset_ratio": cnn["testset"]["ratio"],
        "cnn_latency_ms_b1": {"float": cnn["latency_b1"]["float_ms"], "packed": cnn["latency_b1"]["packed_ms"]},
        "cnn_testset_s": {"float": cnn["testset"]["float_s"], "packed": cnn["testset"]["packed_s"]},
        "cnn_testset_images_per_s": {
            "float": round(cnn["testset"]["images"] / cnn["testset"]["float_s"], 1),
            "packed": round(cnn["testset"]["images"] / cnn["testset"]["packed_s"], 1),
        },
        "cnn_testset_agreement": cnn["testset"]["agreement"],
        "cnn_throughput_images_per_s_b100": {
            "float": cnn["throughput_b100"]["float_images_per_s"],
            "packed": cnn["throughput_b100"]["packed_images_per_s"],
        },
        "cnn_b1_identical_scores": f"{cnn['latency_b1']['b1_identical_scores']}/{cnn['latency_b1']['images']}",
        "cnn_max_score_diff": cnn["max_score_diff"],
        "cnn_test_accuracy": cnn["test_accuracy_float"],
        "cnn_float_bytes": cnn["float_bytes"],
        "cnn_packed_bytes": cnn["packed_bytes"],
    }
    if args.cnn_only:
        print_report(result)
        if args.json:
            print(json.dumps({"threads": threads, **cnn_summary, "details": result["models"]}, default=float))
        return 0
    paper, fast = result["models"]["paper"], result["models"]["fast"]
    summary = {
        "threads": threads,
        "agreement": paper["agreement"],
        "agreement_fast": fast["agreement"],
        "latency_ratio_b1": paper["latency_b1"]["ratio"],
        "latency_ratio_b1_fast": fast["latency_b1"]["ratio"],
        "latency_ratio_b1_vs_model_forward": paper["latency_b1"]["ratio_vs_model_forward"],
        "latency_ratio_b1_vs_model_forward_fast": fast["latency_b1"]["ratio_vs_model_forward"],
        "throughput_ratio_b100": paper["throughput_b100"]["ratio"],
        "throughput_ratio_b100_fast": fast["throughput_b100"]["ratio"],
        "throughput_ratio_b1000": paper["throughput_b1000"]["ratio"],
        "throughput_ratio_b1000_fast": fast["throughput_b1000"]["ratio"],
        "fast_testset_ratio": fast["testset"]["ratio"],
        "fast_testset_s": {"float": fast["testset"]["float_s"], "packed": fast["testset"]["packed_s"]},
        "fast_testset_agreement": fast["testset"]["agreement"],
        "throughput_images_per_s_b100": {
            "float": paper["throughput_b100"]["float_images_per_s"],
            "packed": paper["throughput_b100"]["packed_images_per_s"],
        },
        "throughput_images_per_s_b1000": {
            "float": paper["throughput_b1000"]["float_images_per_s"],
            "packed": paper["throughput_b1000"]["packed_images_per_s"],
        },
        "b1_identical_scores": f"{paper['latency_b1']['b1_identical_scores']}/{paper['latency_b1']['images']}",
        "words_per_second": paper["busiest_kernel"]["words_per_second"],
        "words_per_second_kernel": paper["busiest_kernel"]["layer"],
        "float_bytes": paper["float_bytes"],
        "packed_bytes": paper["packed_bytes"],
        "file_bytes": paper["file_bytes"],
        "float_bytes_fast": fast["float_bytes"],
        "packed_bytes_fast": fast["packed_bytes"],
        "file_bytes_fast": fast["file_bytes"],
        "latency_ms_b1": {"float": paper["latency_b1"]["float_ms"], "packed": paper["latency_b1"]["packed_ms"]},
        "latency_ms_b1_first_of_block": {
            "float": paper["latency_b1"]["float_first_ms"],
            "packed": paper["latency_b1"]["packed_first_ms"],
        },
        "latency_ms_b1_fast": {"float": fast["latency_b1"]["float_ms"], "packed": fast["latency_b1"]["packed_ms"]},
        "max_score_diff": paper["max_score_diff"],
        "max_score_diff_fast": fast["max_score_diff"],
        "test_accuracy": paper["test_accuracy_float"],
        "test_accuracy_fast": fast["test_accuracy_float"],
        "popcount_ns_per_word": result["popcount_ns_per_word"],
        **cnn_summary,
        "details": result["models"],
    }
    print_report(result)
    if args.json:
        print(json.dumps(summary, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

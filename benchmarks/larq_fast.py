"""`fast` trained by larq 0.14 on TensorFlow: the anchor that benchmarks/vs_larq.py measures us against.

Run by the Python of a separate venv that has ``tensorflow-cpu``, ``larq`` and ``tf-keras`` (never a
dependency of this project; see benchmarks/vs_larq.py), it builds the network of the ``fast``
preset layer for layer and trains it as our trainer does, then prints one JSON object:

* input: pixels scaled to [-1, 1], flattened, not binarized;
* ``QuantDense(1024)`` with ``ste_sign`` weights -> ``BatchNormalization`` ->
  ``QuantDense(1024)`` with ``ste_sign`` inputs and weights -> ``BatchNormalization`` ->
  ``QuantDense(10)`` with ``ste_sign`` inputs and weights -> ``BatchNormalization`` -> real scores;
  latent weights Glorot-uniform, clipped to [-1, 1] after every step (``weight_clip``), biases 0;
  BatchNorm epsilon 1e-4, momentum 0.9 (PyTorch's 0.1);
* softmax cross-entropy, Adam (epsilon 1e-8, PyTorch's) at 1e-2 with cosine decay to 1e-5 over the
  run, batch 200, a fresh shuffle every epoch.

It trains the way a larq user does: one ``model.fit`` over the NumPy arrays with ``shuffle=True``
(Keras slices the arrays itself; no ``tf.data`` shuffle buffer), optionally with
``jit_compile=True`` (XLA, ``--xla``). The test set is evaluated once, after training.
``seconds_per_epoch`` is the whole ``fit`` divided by the epochs, graph building and XLA compilation
included, as a user waits for them; ``epoch_seconds`` the epochs one by one (a Keras callback);
``cpu_seconds_per_epoch`` the process CPU time over the same span. It does not import this project
(nor torch).

    TF_USE_LEGACY_KERAS=1 OMP_NUM_THREADS=1 .larq-venv/bin/python benchmarks/larq_fast.py --data-dir D [--xla]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def read_idx(path: Path) -> np.ndarray:
    """An MNIST IDX file (raw, as torchvision leaves it in MNIST/raw) as a numpy array."""
    data = path.read_bytes()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(data_dir: Path) -> tuple[np.ndarray, ...]:
    raw = data_dir / "MNIST" / "raw"

    def images(name: str) -> np.ndarray:
        return (read_idx(raw / name).reshape(-1, 784).astype(np.float32) / 255.0) * 2 - 1

    return (
        images("train-images-idx3-ubyte"),
        read_idx(raw / "train-labels-idx1-ubyte").astype(np.int64),
        images("t10k-images-idx3-ubyte"),
        read_idx(raw / "t10k-labels-idx1-ubyte").astype(np.int64),
    )


def build(tf, lq):
    def dense(units: int, binary_input: bool):
        return lq.layers.QuantDense(
            units,
            input_quantizer="ste_sign" if binary_input else None,
            kernel_quantizer="ste_sign",
            kernel_constraint="weight_clip",
            kernel_initializer="glorot_uniform",
            use_bias=True,
        )

    def norm():
        return tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-4)

    return tf.keras.Sequential(
        [
            tf.keras.Input((784,)),
            dense(1024, binary_input=False),
            norm(),
            dense(1024, binary_input=True),
            norm(),
            dense(10, binary_input=True),
            norm(),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--xla", action="store_true", help="compile the training step with XLA (jit_compile=True)")
    args = parser.parse_args()
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import larq as lq
    import tensorflow as tf

    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.keras.utils.set_random_seed(args.seed)
    train_x, train_y, test_x, test_y = load(args.data_dir)
    steps_per_epoch = -(-len(train_y) // args.batch_size)
    schedule = tf.keras.optimizers.schedules.CosineDecay(1e-2, steps_per_epoch * args.epochs, alpha=1e-3)
    model = build(tf, lq)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(schedule, epsilon=1e-8),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=args.xla,
    )

    class EpochTimes(tf.keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.seconds.append(time.perf_counter() - self._start)

    times = EpochTimes()
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(
        train_x, train_y, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, verbose=0, callbacks=[times]
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    _, accuracy = model.evaluate(test_x, test_y, batch_size=1000, verbose=0)
    print(
        json.dumps(
            {
                "framework": f"larq {lq.__version__} on TensorFlow {tf.__version__}",
                "xla": args.xla,
                "epochs": args.epochs,
                "test_accuracy": round(100 * accuracy, 2),
                "seconds_per_epoch": round(wall / args.epochs, 2),
                "cpu_seconds_per_epoch": round(cpu / args.epochs, 2),
                "epoch_seconds": [round(w, 2) for w in times.seconds],
                "threads": threads,
            }
        )
    )


if __name__ == "__main__":
    main()

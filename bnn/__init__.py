"""BNN Playground: Binarized Neural Networks on MNIST, in plain PyTorch.

Quick start (in Jupyter, or any Python):

    import bnn
    seed = bnn.train("seed", epochs=1, train_subset=5000)   # the Keras question's net: ~10%, all "0"
    seed.diagnose()                                         # each finding, its evidence, a fix
    fixed = bnn.train(seed.diagnose().apply(), fixes=seed, epochs=1, train_subset=5000)
    bnn.compare(seed, fixed).figure()                       # their test accuracy, overlaid
    run = bnn.train("fast", background=True, live=True)     # a chart that updates as it trains
    run.wait(step=25).edit(lr=1e-3)                         # a live edit, as on the Train page
    run.wait().predict(bnn.mnist()[0][:5])                  # digits of five test images
    bnn.runs()                                              # every saved run, as a table
    bnn.settings()                                          # every setting: meaning, values, default

The names: train, load_run, runs, compare, presets, settings, configure, mnist, RunHandle;
help(bnn.train) says more. bnn.settings() lists every setting train() takes by name (meaning,
values, default), bnn.presets() the presets. Runs are saved into $BNN_RUNS_DIR (else
~/.cache/bnn-playground/runs), where the app (streamlit run app.py) and TensorBoard
(tensorboard --logdir <that folder>) see them too; MNIST comes from $BNN_DATA_DIR.

Courbariaux, Hubara, Soudry, El-Yaniv, Bengio 2016, "Binarized Neural Networks",
arXiv:1602.02830. Command line: bnn --help (or python -m bnn --help).
"""

# The names above are imported on first use, so that `import bnn` stays light. bnn.train and
# bnn.runs are the API's functions; the modules of the same names (the training loop, the run
# folders) import as usual (from bnn.train import Trainer) but are not kept as attributes of the
# package, which would hide the functions: Python's import sets each submodule on its package,
# and only a module type of our own can refuse that (it is named `module`, which is what it is).

import sys
import types

PUBLIC = (
    "train",
    "load_run",
    "runs",
    "compare",
    "presets",
    "settings",
    "configure",
    "mnist",
    "load_packed",
    "RunHandle",
)
__all__ = list(PUBLIC)


class module(types.ModuleType):  # noqa: N801 - shown as the package's type ("Type: module" in IPython)
    def __getattr__(self, name: str):
        if name in PUBLIC:
            from . import api

            return getattr(api, name)
        raise AttributeError(f"module 'bnn' has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        if name in PUBLIC and isinstance(value, types.ModuleType):
            return  # a submodule named like a public function (bnn.train, bnn.runs): sys.modules keeps it
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(PUBLIC))


sys.modules[__name__].__class__ = module

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

The package's folders are its layers, each importing only from the ones listed before it:
config (the settings), network (the model), training (the loop), jobs (runs and their
folders), analysis (diagnosis, summaries), xnor (the packed engine), deploy (its files),
plots, api (the names above) and cli (the command line). docs/architecture.md tells more.
"""

# The public names are the API's (bnn/api), imported on first use so that `import bnn` stays light:
# the settings (bnn.config) and the command line load without PyTorch's or the API's imports.

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


def __getattr__(name: str):
    if name in PUBLIC:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'bnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(PUBLIC))

"""BNN Playground core: Binarized Neural Networks (Courbariaux et al. 2016, arXiv:1602.02830).

Plain PyTorch; knows nothing of Streamlit. The public API (:mod:`bnn.api`), for a notebook or a
script::

    import bnn
    seed = bnn.train("seed", epochs=1, train_subset=5000)    # the 9.87% run, saved like the app's
    seed.diagnose()                                          # its findings, each with a fix
    fixed = bnn.train(seed.diagnose().apply(), fixes=seed, epochs=1, train_subset=5000)
    bnn.compare(seed, fixed).figure()

Its names are imported on first use, so ``import bnn`` stays light. ``bnn.train`` and
``bnn.runs`` are the API's functions; the modules of the same names (the training loop, the run
folders) are imported as usual (``from bnn.train import Trainer``) but not kept as attributes
of the package, which would hide the functions.
"""

import sys
import types

PUBLIC = ("train", "load_run", "runs", "compare", "presets", "configure", "mnist", "load_packed", "RunHandle")
__all__ = list(PUBLIC)


class _Package(types.ModuleType):
    def __getattr__(self, name: str):
        if name in PUBLIC:
            from . import api

            return getattr(api, name)
        raise AttributeError(f"module 'bnn' has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        if name in PUBLIC and isinstance(value, types.ModuleType):
            return  # a submodule named like a public function (bnn.train, bnn.runs): sys.modules keeps it
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

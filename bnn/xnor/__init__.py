"""Bit-packed XNOR-popcount inference for a trained :class:`~bnn.network.models.BinaryNet`, MLP or CNN.

Courbariaux et al. (2016, arXiv:1602.02830, section 3): once weights and activations are ±1, a dot
product is an XNOR followed by a popcount. :func:`export_packed` turns a trained model into packed
weight bits and integer thresholds; the :class:`PackedModel` runs it with fused compiled kernels and
keeps a pure-numpy reference engine. docs/xnor.md tells the arithmetic, the design and how the
engine was measured (``python -m benchmarks.xnor``).

* :mod:`bnn.xnor.packing`: ±1 vectors as uint64 words, the XNOR dot product.
* :mod:`bnn.xnor.kernels`: the fused numba kernels (a program in one compiled call), built from
  :mod:`bnn.xnor.dense_steps`, :mod:`bnn.xnor.conv_steps` and :mod:`bnn.xnor.intrinsics`;
  :mod:`bnn.xnor.numpy_kernels`: the numpy reference.
* :mod:`bnn.xnor.layer`: :class:`PackedLayer`; :mod:`bnn.xnor.model`: :class:`PackedModel` (the forward pass).
* :mod:`bnn.xnor.export`: threshold folding, :func:`export_packed`.
* :mod:`bnn.xnor.fileformat`: :func:`save_packed` / :func:`load_packed` (the ``.bnnx`` file, read strictly).
* :mod:`bnn.xnor.timing`: the packed engine against the float model, measured.
"""

from .export import export_packed, float_nbytes
from .fileformat import FORMAT_VERSION, MAGIC, load_packed, packed_bytes, packed_from_bytes, save_packed
from .layer import PackedFileError, PackedLayer, XnorExportError
from .model import ENGINES, GRID_TOL, PackedModel
from .packing import pack_bits, pack_signs, popcount, unpack_bits, xnor_dot, xnor_dot_example

__all__ = [
    "ENGINES",
    "FORMAT_VERSION",
    "GRID_TOL",
    "MAGIC",
    "PackedFileError",
    "PackedLayer",
    "PackedModel",
    "XnorExportError",
    "export_packed",
    "float_nbytes",
    "load_packed",
    "pack_bits",
    "pack_signs",
    "packed_bytes",
    "packed_from_bytes",
    "popcount",
    "save_packed",
    "unpack_bits",
    "xnor_dot",
    "xnor_dot_example",
]

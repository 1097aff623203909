"""The numba building blocks of the fused kernels: LLVM intrinsics and how a kernel is compiled.

Why numba: it installs as a wheel from PyPI (numba + llvmlite, LLVM inside; no compiler needed on
the machine), compiles for the CPU it runs on, and exposes LLVM's ``llvm.ctpop``, atomics and
vector instructions through :func:`numba.extending.intrinsic` (numba itself does not compile
``np.bitwise_count``): LLVM turns ``ctpop`` into ``vpopcntq`` where the CPU has it and into a fast
SWAR/shuffle sequence elsewhere. A C extension would need a build per platform. Compiled code is
cached on disk (``cache=True``) when a cache directory is writable and compiled in memory otherwise.
numba invalidates a cached function only when its own file changes, not when a function it calls
in another module does (numba#8396); the kernels call across :data:`KERNEL_SOURCES`, so
:func:`forget_stale_cache` drops the cache of all of them when any of them changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import FunctionType
from typing import Any

import llvmlite.binding as llvm
import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _prefer_512_bit_vectors() -> None:
    """Let LLVM use 512-bit vectors where the CPU has AVX-512: LLVM's default tuning for these CPUs
    (``prefer-256-bit``) halves the width of the popcount loops (measured: the 4096x4096 layer at
    batch 1,000 takes 30% less time with 512-bit vectors). Only when nobody set ``NUMBA_CPU_FEATURES``;
    numba reads it once, when it first compiles (or loads a cached kernel), and keys its cache by it."""
    if numba.config.CPU_FEATURES is not None:
        return
    features = llvm.get_host_cpu_features().flatten()
    if "+avx512f" in features.split(","):
        numba.config.CPU_FEATURES = features + ",-prefer-256-bit"


_prefer_512_bit_vectors()

KERNEL_SOURCES = ("intrinsics.py", "dense_steps.py", "conv_steps.py", "kernels.py")  # they call each other
SOURCES_STAMP = "kernel-sources.sha256"
PACKAGE = Path(__file__).resolve().parent


def forget_stale_cache(package: Path = PACKAGE) -> None:
    """Delete the cached kernels in ``package/__pycache__`` when :data:`KERNEL_SOURCES` changed
    since they were cached (their digest is kept beside them). Nothing happens where that folder
    is not writable: numba then caches elsewhere, for an installed (unchanging) copy."""
    cache = package / "__pycache__"
    digest = hashlib.sha256(b"".join((package / name).read_bytes() for name in KERNEL_SOURCES)).hexdigest()
    stamp = cache / SOURCES_STAMP
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for stale in [*cache.glob("*.nbi"), *cache.glob("*.nbc")]:
            stale.unlink(missing_ok=True)
        stamp.write_text(digest)
    except OSError:
        return


forget_stale_cache()


@intrinsic
def _popcount64(typingctx: Any, x: types.Type) -> Any:
    """LLVM's ``ctpop`` on a 64-bit integer, returned as int64 (int64 + uint64 would be float64)."""
    if not (isinstance(x, types.Integer) and x.bitwidth == 64):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ctpop = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(ctpop, [args[0]])

    return types.int64(x), codegen


def _item_pointer(context: Any, builder: Any, array_type: Any, array: Any, index_type: Any, index: Any) -> Any:
    ary = context.make_array(array_type)(context, builder, array)
    index = context.cast(builder, index, index_type, types.intp)
    return cgutils.get_item_pointer(context, builder, array_type, ary, [index], wraparound=False)


def _is_int64_vector(array: Any) -> bool:
    return isinstance(array, types.Array) and array.ndim == 1 and array.dtype == types.int64


@intrinsic
def _fetch_add(typingctx: Any, array: types.Type, index: types.Type, value: types.Type) -> Any:
    """``old = array[index]; array[index] += value; return old`` atomically (sequentially consistent:
    what the thread wrote before is visible to whoever reads the new value)."""
    if not (_is_int64_vector(array) and isinstance(index, types.Integer) and isinstance(value, types.Integer)):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _item_pointer(context, builder, signature.args[0], args[0], signature.args[1], args[1])
        add = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, add, "seq_cst")

    return types.int64(array, index, value), codegen


@intrinsic
def _atomic_read(typingctx: Any, array: types.Type, index: types.Type) -> Any:
    """``array[index]`` read atomically (acquire: what was written before the increment is visible)."""
    if not (_is_int64_vector(array) and isinstance(index, types.Integer)):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _item_pointer(context, builder, signature.args[0], args[0], signature.args[1], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(array, index), codegen


@intrinsic
def _bit_plane(typingctx: Any, levels: types.Type, start: types.Type, plane: types.Type) -> Any:
    """The uint64 whose bit b is bit ``plane`` of ``levels[start + b]`` (64 uint8 levels): the 64
    bytes shifted so that bit sits on top, then their sign bits (``vpmovb2m`` on AVX-512,
    ``pmovmskb`` on AVX2)."""
    ok = isinstance(levels, types.Array) and levels.ndim == 1 and levels.dtype == types.uint8
    if not (ok and isinstance(start, types.Integer) and isinstance(plane, types.Integer)):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _item_pointer(context, builder, signature.args[0], args[0], signature.args[1], args[1])
        byte, vector = ir.IntType(8), ir.VectorType(ir.IntType(8), 64)
        loaded = builder.load(builder.bitcast(ptr, vector.as_pointer()), align=1)
        shift = builder.trunc(context.cast(builder, args[2], signature.args[2], types.int64), byte)
        shift = builder.sub(ir.Constant(byte, 7), shift)
        splat = builder.insert_element(ir.Constant(vector, ir.Undefined), shift, ir.Constant(ir.IntType(32), 0))
        splat = builder.shuffle_vector(
            splat, ir.Constant(vector, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), 64), None)
        )
        top = builder.icmp_signed("<", builder.shl(loaded, splat), ir.Constant(vector, None))
        return builder.bitcast(top, ir.IntType(64))

    return types.uint64(levels, start, plane), codegen


def _compile(fn: Any, parallel: bool = False) -> Any:
    """``numba.njit`` with an on-disk cache when numba finds a writable cache directory, else in memory.

    numba names a cache file after the function's qualified name and does not key it by
    ``parallel``, so the parallel twin is compiled from a copy of the function named ``*_parallel``."""
    if parallel:
        fn = FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_parallel", fn.__defaults__, fn.__closure__)
        fn.__qualname__ = fn.__name__
    options = {"nogil": True, "parallel": parallel, "error_model": "numpy"}
    try:
        return numba.njit(cache=True, **options)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available" (read-only install)
        return numba.njit(cache=False, **options)(fn)

"""A packed model as a standard ONNX graph (MatMul, Conv, MaxPool, GreaterOrEqual, Where, GatherElements).

Standard ONNX has no 1-bit tensors and no XNOR-popcount op (FINN and QONNX add their own operators for
that), so the graph computes the packed model's *integers* in float32 arithmetic, where they are exact
(every sum stays below 2^24): the ±1 weights are stored as int8 and cast once, a hidden layer is its
integer dot product compared with its folded threshold (``dot >= K - 2 * threshold`` for a dense layer,
``s * d >= T`` after the 2x2 max-pool for a convolution, the exact integer of the 8-bit pixels for the first
layer), and the float output layer looks its scores up in the saved ``table`` (:class:`~bnn.xnor.layer.PackedLayer`)
by popcount, so the scores are the very float32 numbers of ``PackedModel.scores``. Input ``pixels``: float32
(N, C, H, W) in [0, 1], rounded to 8-bit levels (``round(255 x)``, as MNIST's pixels are); outputs
``scores`` (N, classes) float32 and ``label`` (N,) int64 (ties to the lowest class). Layers of kind "float"
(real weights or activations) are refused (:class:`~bnn.xnor.layer.XnorExportError`).
"""

from __future__ import annotations

import numpy as np

from ..xnor.layer import PackedLayer, XnorExportError
from ..xnor.model import PackedModel
from ..xnor.packing import unpack_bits, words_for

OPSET = 21  # ONNX operator set of the graph: onnx 1.23 (pinned) writes it and onnxruntime 1.32 runs it
IR_VERSION = 10  # the file format version onnxruntime reads


def _stored_signs(layer: PackedLayer) -> np.ndarray:
    """The stored ±1 weights (dense rows of a negative gamma negated, as the thresholds expect) as int8,
    (units, fan-in) in the float model's input order (NCHW flatten) or (units, C, k, k) for a convolution."""
    units = layer.out_features
    bits = layer.arrays["weight_bits"]
    if layer.kind == "conv":  # taps, then each tap's channel words
        channels = layer.in_shape[0]
        taps = unpack_bits(bits.reshape(units, layer.kernel**2, words_for(channels)), channels)
        signs = taps.transpose(0, 2, 1).reshape(units, channels, layer.kernel, layer.kernel)
    elif layer.kind == "pixelconv":
        signs = unpack_bits(bits, layer.fan_in).reshape(units, layer.in_shape[0], layer.kernel, layer.kernel)
    elif layer.kind == "xnor" and layer.in_shape is not None:  # positions, then channel words -> NCHW
        channels, height, width = layer.in_shape
        by_position = unpack_bits(bits.reshape(units, height * width, words_for(channels)), channels)
        signs = by_position.transpose(0, 2, 1).reshape(units, -1)
    else:
        signs = unpack_bits(bits, layer.in_features)
        if layer.kind == "bitplane":
            natural = np.empty_like(signs)
            natural[:, layer.perm_index()] = signs
            signs = natural
    return np.where(signs, 1, -1).astype(np.int8)


class _Graph:
    """An ONNX graph being built: its nodes and initializers, each named after a hint and a counter."""

    def __init__(self) -> None:
        from onnx import TensorProto, helper, numpy_helper  # onnx: only when a model is exported

        self.helper, self.numpy_helper, self.float_type = helper, numpy_helper, TensorProto.FLOAT
        self.int64_type = TensorProto.INT64
        self.nodes: list = []
        self.inits: list = []
        self.counter = 0

    def const(self, value: np.ndarray, hint: str) -> str:
        self.counter += 1
        tensor_name = f"{hint}_{self.counter}"
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(value), tensor_name))
        return tensor_name

    def node(self, op: str, inputs: list[str], hint: str, **attrs) -> str:
        self.counter += 1
        out = f"{hint}_{self.counter}"
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def f32(self, value) -> str:
        return self.const(np.asarray(value, dtype=np.float32), "c")

    def signs_of(self, condition: str, hint: str) -> str:
        return self.node("Where", [condition, self.f32(1.0), self.f32(-1.0)], hint)

    def weights(self, layer: PackedLayer, hint: str) -> str:
        return self.node("Cast", [self.const(_stored_signs(layer), hint + "_signs")], hint, to=self.float_type)


def _input(g: _Graph, packed: PackedModel) -> str:
    """The first layer's input from the pixels: their signs (binarized input) or their exact integer levels."""
    x = "pixels"
    if packed.input_binarize:
        scaled = x
        if packed.input_scale == "pm1":
            scaled = g.node("Sub", [g.node("Mul", [x, g.f32(2.0)], "x2"), g.f32(1.0)], "scaled")
        return g.signs_of(g.node("GreaterOrEqual", [scaled, g.f32(0.0)], "ge"), "input_signs")
    levels = g.node("Round", [g.node("Mul", [x, g.f32(255.0)], "x255")], "levels")
    q_mul, q_add = packed.layers[0].pixel_levels(packed.input_scale)
    return g.node("Add", [g.node("Mul", [levels, g.f32(q_mul)], "q"), g.f32(q_add)], "q")


def _conv(g: _Graph, layer: PackedLayer, hint: str, state: str) -> str:
    """A convolution: its integer dot products, 2x2 max-pool, then +1 iff s * d >= T."""
    pad = layer.kernel // 2
    d = g.node("Conv", [state, g.weights(layer, hint + "_w")], hint + "_dot", pads=[pad] * 4)
    if layer.pool:
        d = g.node("MaxPool", [d], hint + "_pool", kernel_shape=[2, 2], strides=[2, 2])
    thresholds = layer.conv_thresholds().astype(np.float32).reshape(2, -1, 1, 1)
    signed = g.node("Mul", [d, g.f32(thresholds[1])], hint + "_sd")
    return g.signs_of(g.node("GreaterOrEqual", [signed, g.f32(thresholds[0])], hint + "_ge"), hint + "_out")


def _dense(g: _Graph, layer: PackedLayer, hint: str, state: str, is_last: bool) -> tuple[str, bool]:
    """A dense layer on a flat input: (its signs, or the output layer's scores from its table; whether it
    gave scores from the table)."""
    wt = g.node("Transpose", [g.weights(layer, hint + "_w")], hint + "_wt", perm=[1, 0])
    dot = g.node("MatMul", [state, wt], hint + "_dot")  # exact integers: E (pixels) or K - 2 popcount
    k = layer.in_features
    if layer.kind == "bitplane":
        if layer.output != "bits":
            raise XnorExportError(f"layer {layer.name}: a pixel layer with real outputs is not exported")
        bound = layer.arrays["threshold"].astype(np.float32)
    elif layer.output == "bits":
        bound = (k - 2 * layer.arrays["threshold"].astype(np.int64)).astype(np.float32)
    else:
        table = layer.output_table()
        if table is None or not is_last:
            raise XnorExportError(f"layer {layer.name}: real outputs are exported for the output layer only")
        half = g.node("Mul", [g.node("Sub", [g.f32(k), dot], hint + "_2p"), g.f32(0.5)], hint + "_p")
        popcounts = g.node("Cast", [half], hint + "_pi", to=g.int64_type)
        return g.node("GatherElements", [g.const(table, hint + "_table"), popcounts], "scores_table", axis=0), True
    condition = g.node("GreaterOrEqual", [dot, g.f32(bound)], hint + "_ge")
    return g.signs_of(condition, hint + "_out"), False


def _layers(g: _Graph, packed: PackedModel) -> str:
    """Every layer's nodes, in order; the name of the scores."""
    state, flat, scores = _input(g, packed), False, ""
    last = len(packed.layers) - 1
    for index, layer in enumerate(packed.layers):
        hint = f"l{index}"
        if layer.kind == "float":
            raise XnorExportError(
                f"layer {layer.name} (float) cannot be exported to ONNX: its weights or its inputs are "
                "real-valued; binarize them"
            )
        if layer.kind in ("conv", "pixelconv"):
            state = _conv(g, layer, hint, state)
            continue
        if not flat:
            shape = g.const(np.array([-1, layer.in_features], np.int64), "shape")
            state, flat = g.node("Reshape", [state, shape], "flat"), True
        out, from_table = _dense(g, layer, hint, state, index == last)
        scores = out
        if not from_table:
            state = out
    return scores


def onnx_model(packed: PackedModel, name: str = "bnn"):
    """The ONNX ``ModelProto`` of ``packed`` (see the module docstring); ``onnx.checker`` passes."""
    import onnx

    g = _Graph()
    helper = g.helper
    scores = _layers(g, packed)
    g.nodes.append(helper.make_node("Identity", [scores], ["scores"], name="scores"))
    g.nodes.append(helper.make_node("ArgMax", [scores], ["label"], name="label", axis=1, keepdims=0))
    channels, height, width = packed.image_shape
    classes = packed.layers[-1].out_features
    graph = helper.make_graph(
        g.nodes,
        name,
        [helper.make_tensor_value_info("pixels", g.float_type, ["N", channels, height, width])],
        [
            helper.make_tensor_value_info("scores", g.float_type, ["N", classes]),
            helper.make_tensor_value_info("label", g.int64_type, ["N"]),
        ],
        g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="bnn-playground",
        doc_string="A binarized neural network exported by BNN Playground from its packed model (.bnnx).",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def onnx_bytes(packed: PackedModel, name: str = "bnn") -> bytes:
    """The serialized ONNX file of ``packed``."""
    return onnx_model(packed, name).SerializeToString()

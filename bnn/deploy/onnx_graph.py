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


def onnx_model(packed: PackedModel, name: str = "bnn"):
    """The ONNX ``ModelProto`` of ``packed`` (see the module docstring); ``onnx.checker`` passes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list = []
    inits: list = []
    counter = [0]

    def const(value: np.ndarray, hint: str) -> str:
        counter[0] += 1
        tensor_name = f"{hint}_{counter[0]}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), tensor_name))
        return tensor_name

    def node(op: str, inputs: list[str], hint: str, **attrs) -> str:
        counter[0] += 1
        out = f"{hint}_{counter[0]}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def f32(value) -> str:
        return const(np.asarray(value, dtype=np.float32), "c")

    def signs_of(condition: str, hint: str) -> str:
        return node("Where", [condition, f32(1.0), f32(-1.0)], hint)

    def weights(layer: PackedLayer, hint: str) -> str:
        return node("Cast", [const(_stored_signs(layer), hint + "_signs")], hint, to=TensorProto.FLOAT)

    channels, height, width = packed.image_shape
    x = "pixels"
    last = len(packed.layers) - 1
    if packed.input_binarize:
        scaled = (
            node("Sub", [node("Mul", [x, f32(2.0)], "x2"), f32(1.0)], "scaled") if packed.input_scale == "pm1" else x
        )
        state = signs_of(node("GreaterOrEqual", [scaled, f32(0.0)], "ge"), "input_signs")
    else:
        levels = node("Round", [node("Mul", [x, f32(255.0)], "x255")], "levels")
        q_mul, q_add = packed.layers[0].pixel_levels(packed.input_scale)
        state = node("Add", [node("Mul", [levels, f32(q_mul)], "q"), f32(q_add)], "q")
    flat = False
    scores = ""
    for index, layer in enumerate(packed.layers):
        hint = f"l{index}"
        if layer.kind == "float":
            raise XnorExportError(
                f"layer {layer.name} (float) cannot be exported to ONNX: its weights or its inputs are "
                "real-valued; binarize them"
            )
        if layer.kind in ("conv", "pixelconv"):
            pad = layer.kernel // 2
            d = node("Conv", [state, weights(layer, hint + "_w")], hint + "_dot", pads=[pad] * 4)
            if layer.pool:
                d = node("MaxPool", [d], hint + "_pool", kernel_shape=[2, 2], strides=[2, 2])
            thresholds = layer.conv_thresholds().astype(np.float32).reshape(2, -1, 1, 1)
            signed = node("Mul", [d, f32(thresholds[1])], hint + "_sd")
            state = signs_of(node("GreaterOrEqual", [signed, f32(thresholds[0])], hint + "_ge"), hint + "_out")
            continue
        if not flat:
            state = node("Reshape", [state, const(np.array([-1, layer.in_features], np.int64), "shape")], "flat")
            flat = True
        wt = node("Transpose", [weights(layer, hint + "_w")], hint + "_wt", perm=[1, 0])
        dot = node("MatMul", [state, wt], hint + "_dot")  # exact integers: E (pixels) or K - 2 popcount
        k = layer.in_features
        if layer.kind == "bitplane":
            if layer.output != "bits":
                raise XnorExportError(f"layer {layer.name}: a pixel layer with real outputs is not exported")
            bound = layer.arrays["threshold"].astype(np.float32)
        elif layer.output == "bits":
            bound = (k - 2 * layer.arrays["threshold"].astype(np.int64)).astype(np.float32)
        else:
            table = layer.output_table()
            if table is None or index != last:
                raise XnorExportError(f"layer {layer.name}: real outputs are exported for the output layer only")
            half = node("Mul", [node("Sub", [f32(k), dot], hint + "_2p"), f32(0.5)], hint + "_p")
            popcounts = node("Cast", [half], hint + "_pi", to=TensorProto.INT64)
            scores = node("GatherElements", [const(table, hint + "_table"), popcounts], "scores_table", axis=0)
            continue
        condition = node("GreaterOrEqual", [dot, f32(bound)], hint + "_ge")
        state = signs_of(condition, hint + "_out")
        scores = state
    nodes.append(helper.make_node("Identity", [scores], ["scores"], name="scores"))
    nodes.append(helper.make_node("ArgMax", [scores], ["label"], name="label", axis=1, keepdims=0))
    classes = packed.layers[-1].out_features
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", channels, height, width])],
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", classes]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        ],
        inits,
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

"""A run's binarized network as files: the packed file, C99 source, ONNX (formats); the C
(c_source) and ONNX (onnx_graph) writers. Importing this package loads no compiler: bnn.xnor
is imported where a format is made."""

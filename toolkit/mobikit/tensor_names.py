"""Converter tensors → what people know them as: the Keras layer names, and the tensor holding the model's output
(one rule for analyze, bias correction and QAT)."""

from __future__ import annotations

import re

# the op doing the arithmetic; the converter may number a name it met before (".../depthwise1")
_ARITHMETIC = re.compile(r"/(convolution|depthwise|MatMul|Conv2D|BiasAdd|add|Add)\d*$")


def keras_layer_name(tensor_name: str) -> str:
    """'model_1/conv_pw_1_1/convolution;…' → 'conv_pw_1'.

    Fused tensors join several ops with ';'; the one doing the arithmetic (convolution, depthwise, MatMul, add)
    names the layer; otherwise the first part does. The call-scope suffix ('_1') that the model scope carries as
    well is dropped.
    """
    parts = [part for part in tensor_name.split(";") if part]
    if not parts:
        return tensor_name
    arithmetic = next((p for p in parts if _ARITHMETIC.search(p) and "batchnorm" not in p), parts[0])
    scopes = arithmetic.split("/")
    if len(scopes) < 2:
        return arithmetic
    layer = scopes[-2]
    suffix = re.search(r"_\d+$", scopes[0])
    if suffix and len(scopes) > 2 and layer.endswith(suffix.group()):
        layer = layer[: -len(suffix.group())]
    return layer


def output_tensors(graph_outputs, ops) -> set[int]:
    """The tensors holding the model's output: the graph's outputs, and the input of a DEQUANTIZE making one (float
    I/O). `ops`: (op name, input indices, output indices) per op. The converter names these tensors itself, so an
    op computing the output is found by its place in the graph, not by a Keras name."""
    final = {int(t) for t in graph_outputs}
    made = {int(inputs[0]) for name, inputs, outputs in ops if name == "DEQUANTIZE" and int(outputs[0]) in final}
    return final | made

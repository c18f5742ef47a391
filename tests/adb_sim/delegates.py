"""What LiteRT does, and logs, when a delegate is applied to a model on the simulated phone.

Rules modelled (ai.google.dev/edge/litert/performance/gpu, "GPU delegates for LiteRT": supported ops, and the
refusal of graphs with dynamic-sized tensors; ai.google.dev/edge/litert/android/delegates/nnapi "NNAPI delegate";
tensorflow/lite/core/subgraph.cc, whose log line `Replacing N out of M node(s) with delegate (NAME) node,
yielding K partitions for the whole graph.` benchmark_model users read coverage from):
* the GPU delegate exists only on a phone with a usable GPU (`SimDevice(gpu=True)`); it refuses a graph with
  dynamic-sized tensors (a free batch dimension, `shape_signature` -1): the interpreter cannot be created;
  otherwise it takes the nodes whose op it supports, in contiguous partitions;
* NNAPI takes nodes only where the phone has an NNAPI accelerator (`SimDevice(nnapi_accelerator=True)`); without
  one (NNAPI's CPU fallback off, the LiteRT default) it takes none and says so;
* XNNPACK, when enabled, takes every node left that it supports (all ops of mobikit's models).
"""

from __future__ import annotations

from dataclasses import dataclass

GPU_OPS = {"ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MEAN",
           "MUL", "PAD", "RESHAPE", "SOFTMAX", "RELU6", "HARD_SWISH", "LOGISTIC"}
NNAPI_OPS = GPU_OPS | {"QUANTIZE", "DEQUANTIZE"}
KERNELS = {"gpu": "TfLiteGpuDelegateV2", "nnapi": "TfLiteNnapiDelegate", "xnnpack": "TfLiteXNNPackDelegate"}
DYNAMIC_REFUSAL = ("Attempting to use a delegate that only supports static-sized tensors with a graph that has "
                   "dynamic-sized tensors")


class DelegateRefused(Exception):
    """The interpreter could not be created with this delegate; the message is LiteRT's."""


@dataclass(frozen=True)
class Graph:
    ops: tuple[str, ...]
    dynamic: bool

    @classmethod
    def of(cls, model_path) -> "Graph":
        from mobikit.inference import make_interpreter

        interpreter = make_interpreter(model_path, 1, "cpu")
        ops = tuple(op["op_name"] for op in interpreter._get_ops_details())
        dynamic = any(-1 in list(d["shape_signature"]) for d in interpreter.get_input_details())
        return cls(ops, dynamic)


def _partitions(taken: list[bool]) -> int:
    return sum(1 for i, t in enumerate(taken) if t and (i == 0 or not taken[i - 1]))


def _line(kernel: str, nodes: int, total: int, partitions: int) -> str:
    return (f"Replacing {nodes} out of {total} node(s) with delegate ({kernel}) node, yielding {partitions} "
            "partitions for the whole graph.")


def apply(device, graph: Graph, delegate: str, xnnpack: bool) -> list[str]:
    """The `tflite` log lines of building an interpreter with `delegate` (and XNNPACK on the rest when enabled);
    raises DelegateRefused where the real interpreter constructor throws."""
    nodes = list(graph.ops)
    lines = []
    if delegate == "gpu":
        if not device.gpu:
            raise DelegateRefused("GPU not on LiteRT's compatibility list")
        if graph.dynamic:
            raise DelegateRefused(f"Internal error: Failed to apply delegate: {DYNAMIC_REFUSAL}")
        lines.append("Initialized OpenCL-based API.")
    if delegate in ("gpu", "nnapi"):
        supported = GPU_OPS if delegate == "gpu" else NNAPI_OPS
        usable = delegate == "gpu" or device.nnapi_accelerator
        taken = [usable and op in supported for op in nodes]
        lines.append(_line(KERNELS[delegate], sum(taken), len(nodes), _partitions(taken)))
        kept, part = [], False
        for op, t in zip(nodes, taken):
            if t and not part:
                kept.append(f"{delegate}-partition")
            elif not t:
                kept.append(op)
            part = t
        nodes = kept
    if xnnpack:
        lines.insert(0, "Created TensorFlow Lite XNNPACK delegate for CPU.")
        taken = [not op.endswith("-partition") for op in nodes]
        lines.append(_line(KERNELS["xnnpack"], sum(taken), len(nodes), _partitions(taken)))
    return lines

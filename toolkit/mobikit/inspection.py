"""What is in a `.tflite` file: its TFLite Metadata, input/output tensors, ops by type, float ops left, whether
its shapes are static, size.

The quick answer users otherwise open Netron for. The model is loaded by LiteRT first, which verifies the flatbuffer,
so a truncated or corrupt file fails with one line instead of a garbled summary. TensorFlow is not imported.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import MobikitError, UsageError
from .metadata import ClassifierMetadata, associated_files, consumers, read_metadata, require_tflite
from .tensor_names import keras_layer_name

FLOAT_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64")
QUANTIZED_TYPES = ("INT8", "UINT8", "INT16")  # activation types of quantized ops (INT32 outputs are shape arithmetic)
CONVERSION_OPS = ("QUANTIZE", "DEQUANTIZE")  # move values between float and int at the model's edges
SHAPE_TYPES = ("INT32", "INT64")  # what a shape computed at run time is held in


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]  # -1 where a dimension is free (a dynamic batch)
    scale: float
    zero_point: int

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                "shape_signature": list(self.shape_signature), "scale": self.scale, "zero_point": self.zero_point}


@dataclass(frozen=True)
class DynamicTensor:
    """A tensor whose shape is not fixed in the file: a -1 in its shape signature."""

    name: str
    shape_signature: tuple[int, ...]


@dataclass(frozen=True)
class ShapeOp:
    """An op that computes a shape at run time (SHAPE and the arithmetic on its result), or uses one (RESHAPE)."""

    op: str
    output: str


@dataclass(frozen=True)
class FloatOp:
    """An op that computes in float (its output is a float tensor), other than a QUANTIZE/DEQUANTIZE conversion."""

    op: str
    layer: str
    output: str


@dataclass(frozen=True)
class InspectResult:
    path: Path
    size_bytes: int
    metadata: ClassifierMetadata | None
    packed_files: dict[str, int]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    op_counts: dict[str, int]
    float_ops: tuple[FloatOp, ...]
    quantized_ops: int
    dynamic_tensors: tuple[DynamicTensor, ...] = ()
    shape_ops: tuple[ShapeOp, ...] = ()

    @property
    def static_shapes(self) -> bool:
        """Every shape fixed in the file and none computed at run time: what GPU delegates and LiteRT.js run."""
        return not self.dynamic_tensors and not self.shape_ops

    @property
    def precision(self) -> str:
        """full-integer, mixed (quantized ops with some float ops), or float."""
        if not self.float_ops:
            return "full-integer"
        return "mixed" if self.quantized_ops else "float"

    def consumers(self) -> dict[str, bool]:
        """Which programs open this model, judged by its first input and output types."""
        return consumers(self.inputs[0].dtype, self.outputs[0].dtype) if self.inputs and self.outputs else {}

    def to_json(self) -> dict:
        return {"path": str(self.path), "size_bytes": self.size_bytes,
                "metadata": self.metadata.to_json() if self.metadata else None,
                "packed_files": self.packed_files,
                "inputs": [t.to_json() for t in self.inputs], "outputs": [t.to_json() for t in self.outputs],
                "op_counts": self.op_counts, "precision": self.precision,
                "float_ops": [{"op": f.op, "layer": f.layer, "output": f.output} for f in self.float_ops],
                "static_shapes": self.static_shapes,
                "dynamic_tensors": [{"name": t.name, "shape_signature": list(t.shape_signature)}
                                    for t in self.dynamic_tensors],
                "shape_ops": [{"op": op.op, "output": op.output} for op in self.shape_ops],
                "opens_in": self.consumers()}


def model_path(path: str | os.PathLike) -> Path:
    """A `.tflite` file, or the `model.tflite` of a quantize output folder (checked against its model.json, as every
    command checks a folder); a UsageError naming what is missing."""
    from .description import load_output_folder

    path = Path(path)
    if path.is_dir():
        if not (path / "model.tflite").is_file():
            raise UsageError(f"{path} is a folder without a model.tflite (expected a .tflite file or a quantize "
                             "output folder)")
        path = load_output_folder(path).model_path
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if not path.is_file():
        raise UsageError(f"not a file: {path}")
    return path


def inspect_model(path: str | os.PathLike) -> InspectResult:
    """Summarize a `.tflite` file or a quantize output folder's model."""
    from .inference import make_interpreter

    path = model_path(path)
    try:
        model_bytes = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if not model_bytes:
        raise UsageError(f"{path} is empty (0 bytes)")
    require_tflite(model_bytes, str(path))
    interpreter = make_interpreter(model_bytes, 1, "cpu", name=path)  # LiteRT verifies the flatbuffer first
    try:  # a damaged metadata buffer or packed archive: the error names the file
        metadata = read_metadata(model_bytes)
        packed = associated_files(model_bytes)
    except MobikitError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    op_counts, float_ops, quantized_ops = _ops(model_bytes)
    dynamic_tensors, shape_ops = _dynamic_shapes(model_bytes)
    return InspectResult(path, len(model_bytes), metadata, {name: len(data) for name, data in packed.items()},
                         tuple(_tensor(d) for d in interpreter.get_input_details()),
                         tuple(_tensor(d) for d in interpreter.get_output_details()),
                         op_counts, float_ops, quantized_ops, dynamic_tensors, shape_ops)


def _tensor(detail: dict) -> TensorInfo:
    scale, zero_point = detail["quantization"]
    return TensorInfo(detail["name"], np.dtype(detail["dtype"]).name, tuple(int(d) for d in detail["shape"]),
                      tuple(int(d) for d in detail["shape_signature"]), float(scale), int(zero_point))


def _schema_names():
    """(op code → name, tensor type → name) from LiteRT's flatbuffer schema."""
    from ai_edge_litert import schema_py_generated as schema

    def names(enum) -> dict[int, str]:
        return {code: name for name, code in vars(enum).items() if not name.startswith("_")}

    return schema, names(schema.BuiltinOperator), names(schema.TensorType)


def _op_name(model, op, op_names: dict[int, str]) -> str:
    code = model.OperatorCodes(op.OpcodeIndex())
    name = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "UNKNOWN")
    return f"CUSTOM:{(code.CustomCode() or b'').decode('utf-8', 'replace')}" if name == "CUSTOM" else name


def _dynamic_shapes(model_bytes: bytes) -> tuple[tuple[DynamicTensor, ...], tuple[ShapeOp, ...]]:
    """The tensors with a free dimension (graph inputs first), and the ops computing or using a run-time shape."""
    schema, op_names, type_names = _schema_names()
    model = schema.Model.GetRootAs(model_bytes, 0)
    dynamic: list[DynamicTensor] = []
    shape_ops: list[ShapeOp] = []
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        dynamic.extend(_free_dimension_tensors(graph))
        shape_ops.extend(_shape_ops(model, graph, op_names, type_names))
    return tuple(dynamic), tuple(shape_ops)


def _vector(values) -> list[int]:
    """A flatbuffer int vector as a list (the generated `...AsNumpy()` returns 0 when the vector is absent)."""
    return [int(v) for v in values] if isinstance(values, np.ndarray) else []


def _tensor_name(graph, index: int) -> str:
    return graph.Tensors(index).Name().decode("utf-8", "replace")


def _free_dimension_tensors(graph) -> list[DynamicTensor]:
    inputs = _vector(graph.InputsAsNumpy())
    order = inputs + sorted(set(range(graph.TensorsLength())) - set(inputs))
    found = []
    for index in order:
        signature = tuple(_vector(graph.Tensors(index).ShapeSignatureAsNumpy()))
        if -1 in signature:
            found.append(DynamicTensor(_tensor_name(graph, index), signature))
    return found


def _shape_ops(model, graph, op_names: dict[int, str], type_names: dict[int, str]) -> list[ShapeOp]:
    """SHAPE, every op fed (through integer tensors) by its result, and the ops that take such a shape (RESHAPE)."""
    computed: set[int] = set()  # tensors holding a shape computed at run time
    found = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        name = _op_name(model, op, op_names)
        if name != "SHAPE" and not set(_vector(op.InputsAsNumpy())) & computed:
            continue
        outputs = [t for t in _vector(op.OutputsAsNumpy()) if t >= 0]
        computed.update(t for t in outputs if type_names.get(graph.Tensors(t).Type()) in SHAPE_TYPES)
        found.append(ShapeOp(name, _tensor_name(graph, outputs[0]) if outputs else ""))
    return found


def _ops(model_bytes: bytes) -> tuple[dict[str, int], tuple[FloatOp, ...], int]:
    """Op counts by type (most frequent first), the ops computing in float, and how many compute on quantized values."""
    schema, op_names, type_names = _schema_names()
    model = schema.Model.GetRootAs(model_bytes, 0)
    counts: Counter[str] = Counter()
    float_ops: list[FloatOp] = []
    quantized_ops = 0
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            name = _op_name(model, op, op_names)
            counts[name] += 1
            outputs = [graph.Tensors(int(t)) for t in op.OutputsAsNumpy() if t >= 0] if op.OutputsLength() else []
            if name in CONVERSION_OPS or not outputs:
                continue
            types = {type_names.get(t.Type()) for t in outputs}
            if types & set(FLOAT_TYPES):
                tensor = outputs[0].Name().decode("utf-8", "replace")
                float_ops.append(FloatOp(name, keras_layer_name(tensor), tensor))
            elif types & set(QUANTIZED_TYPES):
                quantized_ops += 1
    return dict(counts.most_common()), tuple(float_ops), quantized_ops

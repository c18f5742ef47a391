"""What is in a `.tflite` file: its TFLite Metadata, input/output tensors, ops by type, float ops left, size.

The quick answer users otherwise open Netron for. The model is loaded by LiteRT first, which verifies the flatbuffer,
so a truncated or corrupt file fails with one line instead of a garbled summary. TensorFlow is not imported.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UsageError
from .metadata import ClassifierMetadata, associated_files, consumers, read_metadata, require_tflite
from .tensor_names import keras_layer_name

FLOAT_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64")
QUANTIZED_TYPES = ("INT8", "UINT8", "INT16")  # activation types of quantized ops (INT32 outputs are shape arithmetic)
CONVERSION_OPS = ("QUANTIZE", "DEQUANTIZE")  # move values between float and int at the model's edges


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), "scale": self.scale,
                "zero_point": self.zero_point}


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
    interpreter = make_interpreter(model_bytes, 1, "cpu")  # LiteRT verifies the flatbuffer before anything reads it
    metadata = read_metadata(model_bytes)
    op_counts, float_ops, quantized_ops = _ops(model_bytes)
    return InspectResult(path, len(model_bytes), metadata,
                         {name: len(data) for name, data in associated_files(model_bytes).items()},
                         tuple(_tensor(d) for d in interpreter.get_input_details()),
                         tuple(_tensor(d) for d in interpreter.get_output_details()),
                         op_counts, float_ops, quantized_ops)


def _tensor(detail: dict) -> TensorInfo:
    scale, zero_point = detail["quantization"]
    return TensorInfo(detail["name"], np.dtype(detail["dtype"]).name, tuple(int(d) for d in detail["shape"]),
                      float(scale), int(zero_point))


def _ops(model_bytes: bytes) -> tuple[dict[str, int], tuple[FloatOp, ...], int]:
    """Op counts by type (most frequent first), the ops computing in float, and how many compute on quantized values."""
    from ai_edge_litert import schema_py_generated as schema

    op_names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    type_names = {code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
    model = schema.Model.GetRootAs(model_bytes, 0)
    counts: Counter[str] = Counter()
    float_ops: list[FloatOp] = []
    quantized_ops = 0
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            name = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "UNKNOWN")
            if name == "CUSTOM":
                name = f"CUSTOM:{(code.CustomCode() or b'').decode('utf-8', 'replace')}"
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

"""`mobikit inspect`: what is in a model file, printed from `mobikit.inspection`'s result."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import JsonOpt, emit_json, out
from .tables import dims, ops_table, tensors_table

FLOAT_OPS_SHOWN = 10


def _numbers(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _range(value_range) -> str:
    return f", values {value_range[0]:g} to {value_range[1]:g}" if value_range else ""


def inspect(
    model: Path = typer.Argument(..., help="A .tflite file or a quantize output folder."),
    as_json: bool = JsonOpt,
):
    """What is in a TFLite model: metadata, inputs/outputs, ops by type, float ops left, static shapes, size."""
    from ..inspection import inspect_model
    from ..metadata import consumers_sentence

    result = inspect_model(model)
    if as_json:
        emit_json(result.to_json())
        return
    out.print(f"{result.path}: {result.size_bytes:,} bytes ({result.size_bytes / 1e6:.2f} MB)")
    meta = result.metadata
    if meta is None:
        out.print("no TFLite Metadata: labels and normalization are not in the file (MediaPipe Tasks and the Task "
                  "Library would show no class names)")
    else:
        out.print(f"TFLite Metadata: {meta.name or '–'}" + (f", version {meta.version}" if meta.version else "")
                  + (f", by {meta.author}" if meta.author else "") + f" (min parser {meta.min_parser_version})")
        if meta.description:
            out.print(f"  {meta.description}")
        normalization = (f"(pixel - mean) / std with mean {_numbers(meta.mean)} and std {_numbers(meta.std)}"
                         if meta.mean and meta.std else "no normalization")
        out.print(f"  input {meta.input_name or '–'}: {meta.color_space or 'not an image'}, {normalization}"
                  + _range(meta.input_range))
        labels = f"{len(meta.labels)} labels in {meta.labels_file}" if meta.labels_file else "no labels"
        out.print(f"  output {meta.output_name or '–'}: {labels}" + _range(meta.output_range))
    if result.packed_files:
        files = ", ".join(f"{name} ({size:,} bytes)" for name, size in result.packed_files.items())
        out.print(f"packed files: {files}")
    out.print(tensors_table(result))
    out.print(ops_table(result))
    if result.precision == "full-integer":
        out.print("full-integer: every op computes in integers")
    elif result.precision == "float":
        out.print(f"float model: {len(result.float_ops)} ops compute in float")
    else:
        shown = ", ".join(f"{op.layer} ({op.op})" for op in result.float_ops[:FLOAT_OPS_SHOWN])
        more = len(result.float_ops) - FLOAT_OPS_SHOWN
        out.print(f"not full-integer: {len(result.float_ops)} ops compute in float: {shown}"
                  + (f" and {more} more" if more > 0 else ""))
    out.print(_shapes_sentence(result))
    if result.inputs and result.outputs:
        out.print(consumers_sentence(result.inputs[0].dtype, result.outputs[0].dtype))


def _shapes_sentence(result) -> str:
    """Static shapes, or which tensors have a free dimension and which ops compute a shape at run time (every name
    is in --json)."""
    if result.static_shapes:
        return "static shapes: every tensor's shape is fixed and no op computes a shape at run time"
    parts = []
    if result.dynamic_tensors:
        edges = {t.name for t in result.inputs + result.outputs}
        named = [f"{t.name} ({dims(t.shape_signature)})" for t in result.dynamic_tensors if t.name in edges]
        parts.append(f"{len(result.dynamic_tensors)} tensors have a free dimension (shape_signature -1)"
                     + (f", among them {', '.join(named)}" if named else ""))
    if result.shape_ops:
        parts.append(f"{', '.join(op.op for op in result.shape_ops)} compute a shape at run time")
    return ("dynamic shapes: " + "; ".join(parts) + ". GPU delegates and LiteRT.js refuse such a graph: convert it "
            "with a fixed batch, e.g. from keras.Input(batch_shape=(1, R, R, 3))")

"""Per-layer int8 error: how far each quantized op is from the same op computed in float on the same inputs.

TFLite's QuantizationDebugger runs a numeric-verify build of the calibrated model (`requantize(numeric_verify=True)`)
on the calibration images; every quantized op's output is compared with its float twin fed the same dequantized
inputs, so a layer's error is its own, not the accumulated error of the layers before it. RMSE / scale (the error in
quantization steps) ranks the layers.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass

import numpy as np

from .convert import requantize
from .errors import MobikitError
from .images import ImageSet
from .input_grid import FLOAT_INPUT, Normalization, renormalize
from .progress import Reporter
from .tensor_names import keras_layer_name

CSV_COLUMNS = ("order", "layer", "op", "rmse_scale", "mean_error", "max_abs_error", "scale", "zero_point",
               "tensor")
WORST_SHOWN = 10


@dataclass(frozen=True)
class LayerError:
    """One quantized tensor's error on the calibration images, in network order."""

    order: int
    layer: str
    op: str
    rmse_scale: float
    mean_error: float
    max_abs_error: float
    scale: float
    zero_point: int
    tensor: str

    def to_json(self) -> dict:
        return asdict(self)


def layer_errors(calibrated: bytes, calib: ImageSet, reporter: Reporter,
                 normalization: Normalization = FLOAT_INPUT) -> list[LayerError]:
    """Run the QuantizationDebugger over the calibration images (under the calibrated model's `normalization`),
    streamed; one row per quantized tensor."""
    import warnings

    from tensorflow.lite.tools.optimize.debugging.python import debugger

    from .runtime import captured_output

    debug_model = requantize(calibrated, "float32", numeric_verify=True)

    def dataset():
        for _, image in reporter.track(calib.items(), len(calib), "analyzing per-layer error"):
            yield [renormalize(image[None], normalization)]

    with warnings.catch_warnings(), captured_output():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice: the debugger needs it
        quant_debugger = debugger.QuantizationDebugger(quant_debug_model_content=debug_model, debug_dataset=dataset)
        quant_debugger.run()
    dump = io.StringIO()
    quant_debugger.layer_statistics_dump(dump)
    rows = []
    for order, row in enumerate(csv.DictReader(io.StringIO(dump.getvalue()))):
        scale = float(row["scale"])
        rmse = math.sqrt(float(row["mean_squared_error"]))
        # a graph output ('StatefulPartitionedCall_1:0') has no layer scope: name it by its op
        name = keras_layer_name(row["tensor_name"]) if "/" in row["tensor_name"] else row["op_name"].lower()
        rows.append(LayerError(order, name, row["op_name"],
                               rmse / scale if scale else float("nan"), float(row["mean_error"]),
                               float(row["max_abs_error"]), scale, int(row["zero_point"]), row["tensor_name"]))
    if not rows:
        raise MobikitError("the quantization debugger found no quantized layer to analyze")
    return rows


def analysis_csv(errors: list[LayerError]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for error in errors:
        row = asdict(error)
        row.update({key: f"{row[key]:.6g}" for key in ("rmse_scale", "mean_error", "max_abs_error", "scale")})
        writer.writerow(row)
    return buffer.getvalue()


def worst_layers(errors: list[LayerError], count: int = WORST_SHOWN) -> list[LayerError]:
    return sorted(errors, key=lambda e: -np.nan_to_num(e.rmse_scale))[:count]

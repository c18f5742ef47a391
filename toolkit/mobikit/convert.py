"""The TFLite converter, driven from one table of modes.

Full-integer int8 runs in two steps — calibrate (the float model with recorded ranges), then `requantize` — so the
calibrated model is kept: bias correction compares against it, the per-layer analysis builds its numeric-verify
model from it, and the float-fallback search re-quantizes it with layers left out, all without calibrating again.
Every conversion runs with TensorFlow's output captured; a failure becomes one line and the full log is written
beside the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from typing import TYPE_CHECKING

from .errors import MobikitError, UsageError, first_line

if TYPE_CHECKING:
    from .images import ImageSet
    from .input_grid import Normalization
    from .progress import Reporter


@dataclass(frozen=True)
class Mode:
    """One way to convert, and what applies to it."""

    name: str
    optimize: bool  # converter.optimizations = [Optimize.DEFAULT]
    float16: bool  # supported_types = [float16]
    calibrated: bool  # needs representative images; full-integer ops
    default_io: str
    io_types: tuple[str, ...]
    help: str

    @property
    def corrects_bias(self) -> bool:
        """Bias correction, the per-layer analysis and the float-fallback search work on calibrated int8 models."""
        return self.calibrated


MODES = {mode.name: mode for mode in (
    # default I/O int8, the fastest: uint8 I/O adds a uint8→int8 QUANTIZE that XNNPACK does not take (host: +40 µs
    # on V1 0.25@128, +127 µs on V2 1.0@224), float32 I/O about 5–10 µs; both open in MediaPipe Tasks and the Task
    # Library (README "Use the model elsewhere"), and quantize says so
    Mode("int8", True, False, True, "int8", ("int8", "uint8", "float32"),
         "full-integer: builtin int8 ops, per-channel weights, int8 activations"),
    Mode("fp16", True, True, False, "float32", ("float32",), "float16 weights, float computation"),
    Mode("dynamic", True, False, False, "float32", ("float32",), "int8 weights, float activations"),
    Mode("fp32", False, False, False, "float32", ("float32",), "the float model as TFLite"),
)}
IO_TYPES = MODES["int8"].io_types


def mode_of(name: str) -> Mode:
    if name not in MODES:
        raise UsageError("unknown {mode} {value!r}: choose one of {choices}", "mode", value=name,
                         choices=", ".join(MODES))
    return MODES[name]


def run_converter(convert: Callable[[], bytes], what: str, log_path: Path | None) -> bytes:
    """Run one conversion quietly; on failure write the converter's full log to `log_path` (never over a file that
    exists) and raise one line."""
    from .outputs import free_name, write_text
    from .runtime import captured_output, raise_if_stopped

    captured = None  # stays None when capturing itself fails (then the error is the one to report)
    try:
        with captured_output() as captured:
            return bytes(convert())
    except MobikitError:
        raise
    except Exception as exc:
        raise_if_stopped()  # an interrupt TensorFlow turned into another error is still an interrupt
        logged = captured.text if captured is not None else ""
        text = f"{logged}\n{exc}" if str(exc) else logged
        where = ""
        if log_path is not None:
            try:
                log_path = free_name(log_path, extension=True)
                write_text(log_path, text)
                where = f" (full log: {log_path})"
            except (OSError, MobikitError):
                pass
        raise MobikitError("the TFLite converter failed on {what}: {reason}{where}", what=what,
                           reason=first_line(exc), where=where) from None


STATIC_BATCH = 1  # phone runtimes (GPU delegates, LiteRT.js) refuse graphs with a dynamic-sized tensor


def _export_static(keras_model, folder: str) -> None:
    """The model's inference call exported as a SavedModel whose inputs take exactly one image.

    What `TFLiteConverter.from_keras_model` does for a Keras 3 model, with the batch fixed: the converter keeps
    the signature's shapes, so the graph is static `[1, R, R, 3]` end to end and computes no batch size at run time
    (a free batch costs a SHAPE → STRIDED_SLICE → PACK → RESHAPE chain and a -1 in every shape signature). Same
    layers, same tensor names, same kernels.
    """
    import functools

    import keras

    from .runtime import tensorflow

    tf = tensorflow()
    signature = [tf.TensorSpec((STATIC_BATCH, *tensor.shape[1:]), tensor.dtype, name=tensor.name)
                 for tensor in keras_model.inputs]
    archive = keras.export.ExportArchive()
    archive.track(keras_model)
    archive.add_endpoint("serve", functools.partial(keras_model.__call__, training=False),
                         signature if len(signature) == 1 else [signature])
    archive.write_out(folder, verbose=False)


def _convert_keras(keras_model, mode: Mode, configure: Callable | None = None) -> bytes:
    """Convert `keras_model` (exported static, batch 1) the way `mode` says; `configure` adjusts the converter."""
    import tempfile

    from .runtime import tensorflow

    tf = tensorflow()
    with tempfile.TemporaryDirectory(prefix="mobikit-export-") as folder:
        _export_static(keras_model, folder)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if mode.optimize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode.float16:
            converter.target_spec.supported_types = [tf.float16]
        if configure is not None:
            configure(converter)
        return converter.convert()


def convert(keras_model, mode: str, log_path: Path | None = None) -> bytes:
    """A model converted without calibration (fp32, fp16, dynamic), static batch-1."""
    spec = mode_of(mode)
    if spec.calibrated:
        raise UsageError("mode {value} needs calibration images: use calibrate() and requantize()", value=mode)
    return run_converter(lambda: _convert_keras(keras_model, spec), f"the {mode} conversion", log_path)


def calibrate(keras_model, images: "ImageSet", reporter: "Reporter", log_path: Path | None = None,
              normalization: "Normalization | None" = None) -> bytes:
    """The float model (static batch-1) with the value range of every tensor recorded over `images` (streamed), fed
    under `normalization` (the float rule by default; with the int8 grid the input's range is pinned to the
    grid's)."""
    from .input_grid import GRID, FLOAT_INPUT, pin_input_range, renormalize
    from .runtime import tensorflow

    tf = tensorflow()
    normalization = normalization or FLOAT_INPUT

    def feed():
        for _, image in reporter.track(images.items(), len(images), "calibrating"):
            yield [renormalize(image[None], normalization)]

    def configure(converter) -> None:
        converter.representative_dataset = feed
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter._experimental_calibrate_only = True  # the converter's documented way to keep the calibrated model

    calibrated = run_converter(lambda: _convert_keras(keras_model, MODES["int8"], configure), "calibration",
                               log_path)
    return pin_input_range(calibrated) if normalization == GRID else calibrated


def requantize(calibrated: bytes, io: str, denylist: list[str] | None = None, numeric_verify: bool = False,
               log_path: Path | None = None) -> bytes:
    """Full-integer int8 (per-channel weights) from a calibrated model, with `io` as the model's input/output type;
    `denylist` names output tensors whose ops stay float; `numeric_verify` adds the debugger's float twins."""
    from tensorflow.lite.python.convert import mlir_quantize

    from .runtime import tensorflow

    if io not in IO_TYPES:
        raise UsageError("unknown {io} {value!r}: choose one of {choices}", "io", value=io, choices=", ".join(IO_TYPES))
    tf = tensorflow()
    io_type = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[io]
    return run_converter(
        lambda: mlir_quantize(calibrated, disable_per_channel=False, input_data_type=io_type,
                              output_data_type=io_type, enable_numeric_verify=numeric_verify,
                              denylisted_nodes=denylist or None),
        "int8 quantization", log_path)

"""`model.json`, typed: what every output folder says about its model, and the check that it still says the truth.

The description is written once by quantize and read by everything after it: bench, eval, analyze, demo, inspect,
deploy on the host, and the phone app (which mirrors `TensorSpec.difference` in `core/ModelDescription.kt`). Before
any of them trusts a folder, `load_output_folder` checks model.json against the model file itself: the sha256, the
input/output dtype, shape, scale and zero point, the label count and the preprocessing rule.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import preprocess
from .input_grid import FLOAT_INPUT, GRID
from .architectures import ARCHS
from .convert import MODES
from .errors import UsageError
from .labels import ClassList, class_list_for, read_labels_file

SCHEMA_VERSION = 1
MODEL_FILE = "model.tflite"
LABELS_FILE = "labels.txt"
MODEL_JSON = "model.json"
SCALE_TOLERANCE = 1e-6  # relative: scales are float32 in the model and printed with more digits in model.json
DTYPES = ("int8", "uint8", "float32")
# Bounds of a model.json mobikit could have written (a hand-edited one beyond them is refused, not trusted)
MAX_MODEL_BYTES = 2 << 30  # FlatBuffers cap a .tflite at 2 GB
MAX_RESOLUTION = 4096
MAX_CLASSES = 100_000
MAX_LAYERS = 10_000
MODE_NAMES = tuple(MODES)


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as model.json records it; a scale of 0 means "not quantized"."""

    dtype: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int

    @classmethod
    def of(cls, detail: dict) -> "TensorSpec":
        """From a LiteRT interpreter's tensor details."""
        scale, zero_point = detail["quantization"]
        return cls(np.dtype(detail["dtype"]).name, tuple(int(d) for d in detail["shape"]), float(scale),
                   int(zero_point))

    def difference(self, actual: "TensorSpec") -> str | None:
        """How `actual` (the model file's tensor) differs from this description, or None."""
        if self.dtype != actual.dtype:
            return f"dtype: model.json {self.dtype}, model.tflite {actual.dtype}"
        if self.shape != actual.shape:
            return f"shape: model.json {list(self.shape)}, model.tflite {list(actual.shape)}"
        # either side quantized: a scale of 0 in model.json must not hide a quantized tensor (or the reverse)
        quantized = self.dtype != "float32" and (self.scale != 0 or actual.scale != 0)
        if quantized and (abs(self.scale - actual.scale) > SCALE_TOLERANCE * max(abs(self.scale), abs(actual.scale))
                          or self.zero_point != actual.zero_point):
            return (f"quantization: model.json scale {self.scale:g} zero point {self.zero_point}, model.tflite "
                    f"scale {actual.scale:g} zero point {actual.zero_point}")
        return None

    def to_json(self) -> dict:
        return {"dtype": self.dtype, "shape": list(self.shape), "scale": self.scale, "zero_point": self.zero_point}


@dataclass(frozen=True)
class Calibration:
    """Where the int8 ranges came from: the folder (absolute) and a fingerprint of the images used."""

    source: str
    embedded: bool
    samples: int
    fingerprint: str | None = None
    files: tuple[str, ...] | None = None  # the image files in `source` (relative) it sampled from; None: all


@dataclass(frozen=True)
class ModelDescription:
    """The phone app's contract and every host command's view of an output folder (written as model.json)."""

    name: str
    mode: str
    resolution: int
    classes: int
    input: TensorSpec
    output: TensorSpec
    softmax: bool
    size_bytes: int
    sha256: str
    arch: str | None = None
    alpha: float | None = None
    weights: str | None = None
    calibration: Calibration | None = None
    full_integer: bool = False
    fallback_layers: tuple[str, ...] = ()
    bias_correction: bool = False
    qat: bool = False  # quantization-aware fine-tuned (`--qat`): analyze reads its weights from the model file
    preprocessing: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)

    def with_model(self, model_bytes: bytes) -> "ModelDescription":
        """The same description for other bytes of the same model (e.g. once metadata is attached)."""
        return replace(self, size_bytes=len(model_bytes), sha256=hashlib.sha256(model_bytes).hexdigest())

    def to_json(self) -> dict:
        """model.json: the one place where these fields become string keys."""
        output = {**self.output.to_json(), "softmax": self.softmax}
        return {
            "schema_version": SCHEMA_VERSION, "name": self.name, "arch": self.arch, "alpha": self.alpha,
            "weights": self.weights, "resolution": self.resolution, "classes": self.classes, "mode": self.mode,
            "model_file": MODEL_FILE, "labels_file": LABELS_FILE, "input": self.input.to_json(), "output": output,
            "preprocessing": self.preprocessing or preprocess.describe(self.resolution),
            "size_bytes": self.size_bytes, "sha256": self.sha256,
            "calibration": asdict(self.calibration) if self.calibration else None,
            "full_integer": self.full_integer, "fallback_layers": list(self.fallback_layers),
            "bias_correction": self.bias_correction, "qat": self.qat, "versions": self.versions,
        }

    @classmethod
    def from_json(cls, data, where: str) -> "ModelDescription":
        """Parse model.json, refusing (one line) anything that is not what quantize writes."""
        def bad(what: str) -> UsageError:
            return UsageError("{where} is not a valid model.json: {what}", where=where, what=what)

        if not isinstance(data, dict):
            raise bad(f"expected an object, got {type(data).__name__}")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise bad(f"schema_version {_short(data.get('schema_version'))}, this mobikit reads {SCHEMA_VERSION}")
        try:
            tensors = [_tensor(data[key], key) for key in ("input", "output")]
            description = cls(
                name=_typed(data, "name", str), mode=_one_of(data, "mode", MODE_NAMES),
                resolution=_typed(data, "resolution", int), classes=_typed(data, "classes", int),
                input=tensors[0], output=tensors[1], softmax=_typed(data["output"], "softmax", bool),
                size_bytes=_typed(data, "size_bytes", int), sha256=_typed(data, "sha256", str),
                arch=_one_of(data, "arch", ARCHS + (None,)), alpha=_alpha(data),
                weights=_typed(data, "weights", str, optional=True),
                calibration=_calibration(data["calibration"]),
                full_integer=_typed(data, "full_integer", bool), fallback_layers=_names(data, "fallback_layers"),
                bias_correction=_typed(data, "bias_correction", bool),
                qat=_typed({"qat": False, **data}, "qat", bool),  # absent in folders written before --qat
                preprocessing=_typed(data, "preprocessing", dict), versions=_typed(data, "versions", dict))
        except KeyError as exc:
            raise bad(f"no {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise bad(str(exc)) from None
        for key, value, limit in (("size_bytes", description.size_bytes, MAX_MODEL_BYTES),
                                  ("resolution", description.resolution, MAX_RESOLUTION),
                                  ("classes", description.classes, MAX_CLASSES)):
            if not 0 < value <= limit:
                raise bad(f"{key} must be between 1 and {limit}, got {value}")
        if description.input.shape != (1, description.resolution, description.resolution, 3):
            raise bad(f"input shape {list(description.input.shape)} is not [1, resolution, resolution, 3]")
        if description.output.shape[-1:] != (description.classes,):
            raise bad(f"output shape {list(description.output.shape)} does not end in classes "
                      f"{description.classes}")
        rules = [preprocess.describe(description.resolution, rule.mean, rule.std) for rule in (FLOAT_INPUT, GRID)]
        if description.preprocessing not in rules:  # the float rule, or the int8 grid of quantized models
            raise bad("preprocessing differs from mobikit's rule for this resolution")
        return description


def _typed(data: dict, key: str, kind: type, optional: bool = False):
    """data[key], which must be there and of type `kind` (or null, when `optional`)."""
    value = data[key]
    if optional and value is None:
        return None
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{key} must be {kind.__name__}, got {_short(value)}")
    return value


def _one_of(data: dict, key: str, choices: tuple):
    value = data[key]
    if value not in choices or isinstance(value, bool):
        raise ValueError(f"{key} must be one of {', '.join(map(str, choices))}, got {_short(value)}")
    return value


def _alpha(data: dict) -> float | None:
    value = data["alpha"]
    if value is None and data["arch"] is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise TypeError(f"alpha must be a finite number > 0 when arch is set, got {_short(value)}")
    return float(value)


def _names(data: dict, key: str) -> tuple[str, ...]:
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise TypeError(f"{key} must be a list of layer names, got {_short(value)}")
    if len(value) > MAX_LAYERS:
        raise ValueError(f"{key} lists {len(value)} layers; a MobileNet has fewer than {MAX_LAYERS}")
    return tuple(value)


def _short(value, limit: int = 80) -> str:
    """A value as a message shows it: its repr, cut (a million-entry list must not become the error line)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def _calibration(data) -> Calibration | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise TypeError(f"calibration must be an object, got {_short(data)}")
    return Calibration(source=_typed(data, "source", str), embedded=_typed(data, "embedded", bool),
                       samples=_typed(data, "samples", int),
                       fingerprint=_typed(data, "fingerprint", str, optional=True),
                       files=_files(data.get("files")))


def _files(value) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(name, str) and name for name in value):
        raise TypeError(f"calibration files must be a list of relative paths, got {str(value)[:80]}")
    if any(Path(name).is_absolute() or ".." in Path(name).parts for name in value):
        raise ValueError("calibration files must be paths inside the calibration folder")
    return tuple(value)


def _tensor(data, key: str) -> TensorSpec:
    if not isinstance(data, dict):
        raise TypeError(f"{key} must be an object")
    dtype, shape = _typed(data, "dtype", str), data["shape"]
    if dtype not in DTYPES:
        raise ValueError(f"{key} dtype {_short(dtype)} is not one of {', '.join(DTYPES)}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                                              for d in shape):
        raise TypeError(f"{key} shape must be a list of positive whole numbers, got {_short(shape)}")
    scale = data["scale"]
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
        raise TypeError(f"{key} scale must be a finite number >= 0, got {_short(scale)}")
    return TensorSpec(dtype, tuple(shape), float(scale), _typed(data, "zero_point", int))


@dataclass(frozen=True)
class OutputFolder:
    """A checked output folder: model.json parsed and proven to describe the model file and labels beside it."""

    path: Path
    description: ModelDescription
    class_list: ClassList

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_tensors(model: str | os.PathLike | bytes) -> tuple[TensorSpec, TensorSpec]:
    """(input, output) of a TFLite model as the interpreter sees them."""
    from .inference import make_interpreter

    interpreter = make_interpreter(model, threads=1)
    return TensorSpec.of(interpreter.get_input_details()[0]), TensorSpec.of(interpreter.get_output_details()[0])


def load_output_folder(folder: str | os.PathLike, param: str = "model") -> OutputFolder:
    """Read an output folder and refuse it (one line) when model.json does not describe the files beside it."""
    path = Path(folder)
    if not path.is_dir():
        raise UsageError("{%s} {path} is not a folder" % param, param, path=str(path))
    missing = [name for name in (MODEL_FILE, LABELS_FILE, MODEL_JSON) if not (path / name).is_file()]
    if missing:
        raise UsageError("{%s} {path} is not a quantize output folder: missing {missing}" % param, param,
                         path=str(path), missing=", ".join(missing))
    where = str(path / MODEL_JSON)
    try:
        data = json.loads((path / MODEL_JSON).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise UsageError("{where} is not valid JSON: {reason}", where=where,
                         reason=(str(exc).splitlines() or [type(exc).__name__])[0]) from None
    description = ModelDescription.from_json(data, where)
    if (path / MODEL_FILE).stat().st_size != description.size_bytes:
        raise UsageError("{where} does not describe the model.tflite beside it (size_bytes {described}, the file has "
                         "{actual}): re-run quantize", where=where, described=description.size_bytes,
                         actual=(path / MODEL_FILE).stat().st_size)
    if file_sha256(path / MODEL_FILE) != description.sha256:
        raise UsageError("{where} does not describe the model.tflite beside it (sha256 differs): re-run quantize",
                         where=where)
    for name, described, actual in zip(("input", "output"), (description.input, description.output),
                                       model_tensors(path / MODEL_FILE)):
        difference = described.difference(actual)
        if difference:
            raise UsageError("{where} does not match model.tflite's {name}: {difference}", where=where, name=name,
                             difference=difference)
    labels = read_labels_file(path / LABELS_FILE, param)
    if len(labels) != description.classes:
        raise UsageError("{labels} has {count} labels but the model in {path} has {classes} classes",
                         labels=str(path / LABELS_FILE), count=len(labels), path=str(path),
                         classes=description.classes)
    return OutputFolder(path, description, class_list_for(description.classes, path / LABELS_FILE, param))

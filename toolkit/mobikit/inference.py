"""Models as functions from preprocessed images to class scores, and one streamed pass of several over an image set.

Every model takes the same host images (float p / 127.5 − 1, `preprocess.normalize`): a TFLite model's input is
written from their pixels through its 256-entry input table (`input_grid.input_table`, with the normalization its
metadata records), and its output dequantized with the tensor's own scale and zero point, so float Keras, int8,
uint8 or float32-I/O TFLite models are compared on the same pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import MobikitError, UsageError, first_line
from .images import ImageSet
from .labels import ClassList, label_of
from .progress import Reporter

if TYPE_CHECKING:
    from .input_grid import Normalization

HOST_DELEGATES = ("xnnpack", "cpu")
# Kernels for host inference (verification, eval, demo); "cpu" = TFLite's reference kernels. XNNPACK picks int8
# kernels per CPU (AVX-512 VNNI, AVX2, ...), so a near tie can flip class between machines: the reference kernels
# give a second, CPU-independent answer to compare with.
HOST_DELEGATE_ENV = "MOBIKIT_HOST_DELEGATE"
BATCH = 16


def default_host_delegate() -> str:
    delegate = os.environ.get(HOST_DELEGATE_ENV, "xnnpack").strip().lower() or "xnnpack"
    if delegate not in HOST_DELEGATES:
        raise UsageError("${env} is {value!r}: choose {choices}", env=HOST_DELEGATE_ENV, value=delegate,
                         choices=" or ".join(HOST_DELEGATES))
    return delegate


def make_interpreter(model: str | os.PathLike | bytes, threads: int = 2, delegate: str | None = None,
                     preserve_all_tensors: bool = False, name: str | os.PathLike | None = None):
    """A LiteRT interpreter with tensors allocated; `delegate="cpu"` disables the default XNNPACK delegate, and
    None means `default_host_delegate()`. A model that does not load is named in the error: `name`, else its
    path."""
    from ai_edge_litert import interpreter as litert

    from .runtime import captured_output

    delegate = delegate or default_host_delegate()
    if delegate not in HOST_DELEGATES:
        raise UsageError("unknown host {delegate} {value!r}: choose {choices}", "delegate", value=delegate,
                         choices=" or ".join(HOST_DELEGATES))
    resolver = (litert.OpResolverType.AUTO if delegate == "xnnpack"
                else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    source = {"model_content": bytes(model)} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
    try:
        with captured_output():  # LiteRT announces its XNNPACK delegate on stderr
            interpreter = litert.Interpreter(**source, num_threads=threads, experimental_op_resolver_type=resolver,
                                             experimental_preserve_all_tensors=preserve_all_tensors)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        if name is None and not isinstance(model, (bytes, bytearray)):
            name = model
        raise MobikitError("LiteRT cannot load {model}: {reason}", model="the model" if name is None else str(name),
                           reason=first_line(exc)) from None
    return interpreter


def quantize_array(real: np.ndarray, dtype, scale: float, zero_point: int) -> np.ndarray:
    """Real values → a tensor of `dtype` (q = round(real / scale) + zero_point, clamped); float passes through."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.integer) or scale == 0:
        return real.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(real / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize_array(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    if not np.issubdtype(values.dtype, np.integer) or scale == 0:
        return values.astype(np.float32)
    return (values.astype(np.float32) - zero_point) * scale


class TFLiteClassifier:
    """A TFLite model as a function from host images (float p / 127.5 − 1) to float class scores.

    The model's own normalization comes from its TFLite Metadata (`normalization` overrides it; without metadata,
    `model_normalization` says what its input implies): a quantized model written by mobikit takes (p − 128) / 128.
    """

    def __init__(self, model: str | os.PathLike | bytes, threads: int = 2,
                 normalization: "Normalization | None" = None):
        from .input_grid import input_table

        self.interpreter = make_interpreter(model, threads)
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        shape = self._input["shape"]
        if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
            raise UsageError("not an image classifier: input shape {shape}, expected [1, R, R, 3]",
                             shape=[int(size) for size in shape])
        self.resolution = int(shape[1])
        self.classes = int(self._output["shape"][-1])
        self.normalization = normalization or model_normalization(model, self._input)
        self.table = input_table(self._input["dtype"], *self._input["quantization"], self.normalization)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.stack([self._one(image) for image in images])

    def _one(self, image: np.ndarray) -> np.ndarray:
        from .input_grid import pixels_of

        self.interpreter.set_tensor(self._input["index"], self.table[pixels_of(image[None])])
        self.interpreter.invoke()
        output = self.interpreter.get_tensor(self._output["index"])[0]
        return dequantize_array(output, *self._output["quantization"])


def model_normalization(model: str | os.PathLike | bytes, input_details: dict | None = None) -> "Normalization":
    """The input normalization a TFLite model's metadata records (one mean and std for all channels). Without
    metadata, a uint8 input (`input_details` as the interpreter gives them) takes each pixel as it is, so its own
    quantization is its normalization: Google's hosted quantized MobileNets, (q − 128) / 128. Otherwise the float
    rule p / 127.5 − 1 (the rule an int8 model converted from a float one without metadata was calibrated on)."""
    from .input_grid import FLOAT_INPUT, Normalization, raw_pixels
    from .metadata import read_metadata

    data = bytes(model) if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    try:
        metadata = read_metadata(data)
    except MobikitError:  # damaged metadata: the model still runs, with the rule its input implies
        metadata = None
    if metadata is None or not metadata.mean or not metadata.std:
        if input_details is not None and np.dtype(input_details["dtype"]) == np.uint8 and \
                input_details["quantization"][0]:
            return raw_pixels(*input_details["quantization"])
        return FLOAT_INPUT
    if len(set(metadata.mean)) > 1 or len(set(metadata.std)) > 1:
        raise UsageError("the model's metadata normalizes channels differently (mean {mean}, std {std}); mobikit "
                         "feeds one mean and std to all three", mean=list(metadata.mean), std=list(metadata.std))
    return Normalization(float(metadata.mean[0]), float(metadata.std[0]))


def keras_predictor(model):
    return lambda images: np.asarray(model(images, training=False))


def replay(scores: np.ndarray):
    """A predictor that hands back scores computed earlier on the same images in the same order (no re-run)."""
    position = 0

    def predict(images: np.ndarray) -> np.ndarray:
        nonlocal position
        position += len(images)
        return scores[position - len(images): position]

    return predict


@dataclass
class Predictions:
    """Scores of one or more models on the same images, with the images' labels where they have one."""

    paths: list[Path] = field(default_factory=list)
    labels: list[int | None] = field(default_factory=list)
    scores: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def labelled(self) -> bool:
        return bool(self.labels) and all(label is not None for label in self.labels)


def labels_of(images: ImageSet, classes: ClassList) -> list[int | None]:
    root = images.root or Path(".")
    return [label_of(path, root, classes) for path in images.paths]


def predict_all(images: ImageSet, models: dict, classes: ClassList, reporter: Reporter | None = None,
                description: str = "evaluating") -> Predictions:
    """Run every model in `models` (name → callable on a batch) over the images in one streamed pass."""
    reporter = reporter or Reporter()
    root = images.root or Path(".")
    result = Predictions()
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in models}
    batches = reporter.track(images.batches(BATCH), len(images), description, count=lambda batch: len(batch[0]))
    for paths, batch in batches:
        result.paths.extend(paths)
        result.labels.extend(label_of(p, root, classes) for p in paths)
        for name, predict in models.items():
            chunks[name].append(predict(batch))
    if images.skipped_message():
        reporter.warn(images.skipped_message())
    result.scores = {name: np.concatenate(parts) if parts else np.zeros((0, len(classes)))
                     for name, parts in chunks.items()}
    return result

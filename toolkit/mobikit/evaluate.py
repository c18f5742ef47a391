"""Accuracy of a float Keras model and a TFLite model on the same images: top-1/top-5, agreement, confusions.

Every prediction goes through the same preprocessing (`mobikit.preprocess`) and label rules (`mobikit.labels`).
TFLite inputs are quantized and outputs dequantized with the tensors' own scale and zero point.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .calibration import ImageSet, image_set
from .errors import UsageError
from .labels import ClassList, imagenet, label_of, read_labels_file
from .progress import Reporter


class TFLiteClassifier:
    """A TFLite model as a function from float inputs in [-1, 1] to float class scores."""

    def __init__(self, model: str | os.PathLike | bytes, threads: int = 2):
        from .bench import make_interpreter

        self.interpreter = make_interpreter(model, threads)
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        shape = self._input["shape"]
        if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
            raise UsageError(f"not an image classifier: input shape {list(shape)}, expected [1, R, R, 3]")
        self.resolution = int(shape[1])
        self.classes = int(self._output["shape"][-1])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.stack([self._one(image) for image in images])

    def _one(self, image: np.ndarray) -> np.ndarray:
        detail = self._input
        value = quantize_array(image[None], detail["dtype"], *detail["quantization"])
        self.interpreter.set_tensor(detail["index"], value)
        self.interpreter.invoke()
        output = self.interpreter.get_tensor(self._output["index"])[0]
        return dequantize_array(output, *self._output["quantization"])


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


def load_classifier(model: str | os.PathLike, threads: int = 2):
    """A `.tflite` file, a quantize output folder or a `.keras` file → (callable, resolution, classes, class list)."""
    path = Path(model)
    labels_file = None
    if path.is_dir():
        labels_file = path / "labels.txt"
        path = path / "model.tflite"
    if not path.is_file():
        raise UsageError(f"model not found: {path}")
    if path.suffix == ".tflite":
        classifier = TFLiteClassifier(path, threads)
        predict, resolution, classes = classifier, classifier.resolution, classifier.classes
    elif path.suffix == ".keras":
        keras_model = load_keras_image_model(path)
        resolution, classes = int(keras_model.input_shape[1]), int(keras_model.output_shape[-1])
        predict = keras_predictor(keras_model)
    else:
        raise UsageError(f"expected a .tflite, a .keras file or a quantize output folder, got {path}")
    class_list = class_list_for(classes, labels_file if labels_file and labels_file.is_file() else None)
    return predict, resolution, classes, class_list


def load_keras_image_model(path: str | os.PathLike):
    """A saved Keras classifier with one square RGB image input, or a UsageError saying what is wrong."""
    from ._tf import tensorflow

    try:
        model = tensorflow().keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise UsageError(f"{path} is not a Keras model: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    shape = model.input_shape
    if not (isinstance(shape, tuple) and len(shape) == 4 and shape[3] == 3 and shape[1] == shape[2] and shape[1]):
        raise UsageError(f"{path} does not take a square RGB image: input shape {shape}")
    if len(model.output_shape) != 2:
        raise UsageError(f"{path} is not a classifier: output shape {model.output_shape}")
    return model


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


def class_list_for(classes: int, labels_file: str | os.PathLike | None = None) -> ClassList:
    """The label names of a model: a labels file, else ImageNet for 1000 classes, else class_<i>."""
    from .labels import generic

    if labels_file is not None:
        class_list = read_labels_file(labels_file)
        if len(class_list) != classes:
            raise UsageError(f"{labels_file} has {len(class_list)} labels but the model has {classes} classes")
        if classes == 1000:
            return imagenet()
        return class_list
    return imagenet() if classes == 1000 else generic(classes)


def labels_of(images: ImageSet, classes: ClassList) -> list[int | None]:
    root = images.root or Path(".")
    return [label_of(path, root, classes) for path in images.paths]


@dataclass
class Predictions:
    """Scores of one or more models on the same images, with the images' labels where they have one."""

    paths: list[Path] = field(default_factory=list)
    labels: list[int | None] = field(default_factory=list)
    scores: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def labelled(self) -> bool:
        return bool(self.labels) and all(label is not None for label in self.labels)


def predict_all(images: ImageSet, models: dict, classes: ClassList, reporter: Reporter | None = None,
                description: str = "evaluating") -> Predictions:
    """Run every model in `models` (name → callable on a batch) over the images in one streamed pass."""
    reporter = reporter or Reporter()
    root = images.root or Path(".")
    result = Predictions()
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in models}
    batches = reporter.track(images.batches(16), len(images), description, count=lambda batch: len(batch[0]))
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


def top_classes(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first; ties go to the lower class index, as `np.argmax` and the
    Android app's `topK` break them (int8 outputs tie often: equal scores are one quantization step apart)."""
    return np.argsort(-scores, axis=-1, kind="stable")[..., :k]


def top_k_accuracy(scores: np.ndarray, labels: list[int], k: int) -> float:
    top = top_classes(scores, k)
    return float(np.mean([label in row for label, row in zip(labels, top)])) if labels else float("nan")


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of images on which two models' top-1 classes agree."""
    return float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))


def kl_divergence(reference: np.ndarray, other: np.ndarray, eps: float = 1e-7) -> float:
    """Mean KL(reference ‖ other) over images, on renormalised, floored probabilities."""
    p = np.clip(reference, eps, None)
    q = np.clip(other, eps, None)
    p, q = p / p.sum(axis=1, keepdims=True), q / q.sum(axis=1, keepdims=True)
    return float(np.mean(np.sum(p * np.log(p / q), axis=1)))


@dataclass
class EvalResult:
    model: str
    n: int
    top1: float | None
    top5: float | None
    confusions: list[dict]

    def to_json(self) -> dict:
        return asdict(self)


def confusions(scores: np.ndarray, labels: list[int], classes: ClassList, most: int = 10) -> list[dict]:
    """The most frequent (true, predicted) pairs among the top-1 mistakes."""
    predicted = np.argmax(scores, axis=1)
    pairs = Counter((t, int(p)) for t, p in zip(labels, predicted) if t != p)
    return [{"true": classes.names[t], "predicted": classes.names[p], "count": n} for (t, p), n in pairs.most_common(most)]


def evaluate(model: str | os.PathLike, data: str | os.PathLike, samples: int | None = None, threads: int = 2,
             reporter: Reporter | None = None) -> EvalResult:
    """Top-1/top-5 of a model on labelled images (`mobikit eval`)."""
    predict, resolution, _, class_list = load_classifier(model, threads)
    images = image_set(data, samples, resolution)
    result = predict_all(images, {"model": predict}, class_list, reporter)
    known = [i for i, label in enumerate(result.labels) if label is not None]
    if not known:
        raise UsageError(f"no image in {data} carries a label (ImageNet synset prefix such as n01440764_*.JPEG, "
                         "or a subfolder named after a class)")
    if reporter and len(known) < len(result.labels):
        reporter.warn(f"{len(result.labels) - len(known)} images carry no known label and are not counted")
    scores = result.scores["model"][known]
    labels = [result.labels[i] for i in known]
    return EvalResult(str(model), len(known), top_k_accuracy(scores, labels, 1), top_k_accuracy(scores, labels, 5),
                      confusions(scores, labels, class_list))

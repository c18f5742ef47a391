"""The `evaluate` verb: top-1/top-5 and the most frequent confusions of a model on labelled images, with quantize's
preprocessing and label rules; and `load_classifier`, the one way every command opens a model to run it."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import UsageError
from .images import image_set
from .inference import TFLiteClassifier, keras_predictor, predict_all
from .labels import ClassList, class_list_for
from .metrics import confusions, top_k_accuracy
from .progress import Reporter


@dataclass(frozen=True)
class Classifier:
    """A model ready to run: batch of [-1, 1] inputs → class scores, with its input size and class names."""

    predict: Callable[[np.ndarray], np.ndarray]
    resolution: int
    class_list: ClassList


def load_classifier(model: str | os.PathLike, threads: int = 2, param: str = "model") -> Classifier:
    """A `.tflite` file, a quantize output folder (checked against its model.json) or a `.keras` file."""
    path = Path(model)
    if path.is_dir():
        from .description import load_output_folder

        folder = load_output_folder(path, param)
        classifier = TFLiteClassifier(folder.model_path, threads)
        return Classifier(classifier, classifier.resolution, folder.class_list)
    if not path.is_file():
        raise UsageError("{%s} not found: {path}" % param, param, path=str(path))
    if path.suffix == ".tflite":
        classifier = TFLiteClassifier(path, threads)
        return Classifier(classifier, classifier.resolution, class_list_for(classifier.classes))
    if path.suffix == ".keras":
        from .models import load_keras_image_model

        keras_model = load_keras_image_model(path, param)
        return Classifier(keras_predictor(keras_model), int(keras_model.input_shape[1]),
                          class_list_for(int(keras_model.output_shape[-1])))
    raise UsageError("{%s} must be a .tflite, a .keras file or a quantize output folder, got {path}" % param, param,
                     path=str(path))


@dataclass(frozen=True)
class EvalResult:
    model: str
    n: int
    top1: float | None
    top5: float | None
    confusions: list[dict]

    def to_json(self) -> dict:
        return asdict(self)


def evaluate(model: str | os.PathLike, data: str | os.PathLike, samples: int | None = None, threads: int = 2,
             reporter: Reporter | None = None) -> EvalResult:
    """Top-1/top-5 of a model on labelled images (synset file-name prefixes or class-named folders)."""
    if threads < 1:
        raise UsageError("{threads} must be >= 1", "threads")
    if samples is not None and samples < 1:
        raise UsageError("{samples} must be >= 1", "samples")
    classifier = load_classifier(model, threads)
    images = image_set(data, samples, classifier.resolution, param="data")
    result = predict_all(images, {"model": classifier.predict}, classifier.class_list, reporter)
    known = [i for i, label in enumerate(result.labels) if label is not None]
    if not known:
        raise UsageError("no image in {data} {path} carries a label (ImageNet synset prefix such as "
                         "n01440764_*.JPEG, or a subfolder named after a class)", "data", path=str(data))
    if reporter and len(known) < len(result.labels):
        reporter.warn(f"{len(result.labels) - len(known)} images carry no known label and are not counted")
    scores = result.scores["model"][known]
    labels = [result.labels[i] for i in known]
    return EvalResult(str(model), len(known), top_k_accuracy(scores, labels, 1), top_k_accuracy(scores, labels, 5),
                      confusions(scores, labels, classifier.class_list))

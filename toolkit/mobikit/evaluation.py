"""The `evaluate` verb: top-1/top-5 and the most frequent confusions of a model on labelled images, with quantize's
preprocessing and label rules; and `load_classifier`, the one way every command opens a model to run it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import UsageError
from .images import image_set
from .inference import TFLiteClassifier, keras_predictor, labels_of, predict_all
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
    """A `.tflite` file, a quantize output folder (checked against its model.json), a `.keras` file or a train
    output folder (its model.keras and labels.txt)."""
    path = Path(model)
    if path.is_dir() and not (path / "model.json").exists() and (path / "train.json").is_file():
        path = path / "model.keras"
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
        labels = path.parent / "labels.txt" if (path.parent / "train.json").is_file() else None
        return Classifier(keras_predictor(keras_model), int(keras_model.input_shape[1]),
                          class_list_for(int(keras_model.output_shape[-1]), labels))
    raise UsageError("{%s} must be a .tflite, a .keras file or a quantize output folder, got {path}" % param, param,
                     path=str(path))


def seen_photos(model: str | os.PathLike) -> tuple[set[Path], str]:
    """The photos a model was fit on, as resolved paths, and the file that lists them: a train output's train.json
    (training and validation parts), or the calibration files a train-made int8 folder's model.json lists.
    Empty when the model records none."""
    path = Path(model)
    folder = path if path.is_dir() else path.parent
    try:
        if (folder / "train.json").is_file():
            described = json.loads((folder / "train.json").read_text(encoding="utf-8"))
            root = Path(described["data"])
            files = [entry["file"] for part in ("train", "val") for entry in described["split"].get(part, {})
                     .get("files", [])]
            return {(root / name).resolve() for name in files}, str(folder / "train.json")
        if path.is_dir() and (folder / "model.json").is_file():
            calibration = json.loads((folder / "model.json").read_text(encoding="utf-8")).get("calibration") or {}
            if calibration.get("files"):
                root = Path(calibration["source"])
                return {(root / name).resolve() for name in calibration["files"]}, str(folder / "model.json")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # a record that cannot be read names no photos; the model itself was checked when it loaded
    return set(), ""


@dataclass(frozen=True)
class EvalResult:
    model: str
    n: int
    top1: float | None
    top5: float | None
    confusions: list[dict]
    seen: int = 0  # images among `n` that the model was fit on (train.json / model.json lists them)
    seen_source: str = ""  # the file that lists them
    held_out: dict | None = None  # {"n", "top1", "top5"} of the other images, when some were seen

    def to_json(self) -> dict:
        return asdict(self)


def _unlabelled(data) -> UsageError:
    return UsageError("no image in {data} {path} carries a label (ImageNet synset prefix such as n01440764_*.JPEG, "
                      "or a subfolder named after a class)", "data", path=str(data))


def evaluate(model: str | os.PathLike, data: str | os.PathLike, samples: int | None = None, threads: int = 2,
             reporter: Reporter | None = None) -> EvalResult:
    """Top-1/top-5 of a model on labelled images (synset file-name prefixes or class-named folders)."""
    if threads < 1:
        raise UsageError("{threads} must be >= 1", "threads")
    if samples is not None and samples < 1:
        raise UsageError("{samples} must be >= 1", "samples")
    classifier = load_classifier(model, threads)
    images = image_set(data, samples, classifier.resolution, param="data")
    if not any(label is not None for label in labels_of(images, classifier.class_list)):  # before the slow pass
        raise _unlabelled(data)
    result = predict_all(images, {"model": classifier.predict}, classifier.class_list, reporter)
    known = [i for i, label in enumerate(result.labels) if label is not None]
    if not known:  # the labelled images could not be read
        raise _unlabelled(data)
    if reporter and len(known) < len(result.labels):
        reporter.warn(f"{len(result.labels) - len(known)} images carry no known label and are not counted")
    scores = result.scores["model"][known]
    labels = [result.labels[i] for i in known]
    seen, source = seen_photos(model)
    fitted = [Path(result.paths[i]).resolve() in seen for i in known]
    held_out = None
    if any(fitted) and reporter:
        reporter.warn(f"{sum(fitted)} of the {len(known)} images in {data} are photos {model} was trained on ({source} "
                      "lists them): they are scored apart as well")
    if any(fitted):
        rest = [i for i, was in enumerate(fitted) if not was]
        held_out = {"n": len(rest), "top1": top_k_accuracy(scores[rest], [labels[i] for i in rest], 1) if rest else None,
                    "top5": top_k_accuracy(scores[rest], [labels[i] for i in rest], 5) if rest else None}
    return EvalResult(str(model), len(known), top_k_accuracy(scores, labels, 1), top_k_accuracy(scores, labels, 5),
                      confusions(scores, labels, classifier.class_list), sum(fitted), source if any(fitted) else "",
                      held_out)

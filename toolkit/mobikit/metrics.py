"""How two models' answers are compared: top-k accuracy, top-1 agreement, KL divergence, confusions.

One tie rule everywhere: the lower class index wins, as `np.argmax` and the Android app's `topK` break ties (int8
outputs tie often: their scores move in steps of one quantization step).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

from .labels import ClassList


def top_classes(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first, ties to the lower index."""
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


def confusions(scores: np.ndarray, labels: list[int], classes: ClassList, most: int = 10) -> list[dict]:
    """The most frequent (true, predicted) pairs among the top-1 mistakes."""
    predicted = np.argmax(scores, axis=1)
    pairs = Counter((t, int(p)) for t, p in zip(labels, predicted) if t != p)
    return [{"true": classes.names[t], "predicted": classes.names[p], "count": n}
            for (t, p), n in pairs.most_common(most)]


@dataclass(frozen=True)
class Comparison:
    """A model against its float reference on the same images (accuracy fields None without labels)."""

    n: int = 0
    labelled: bool = False
    float_top1: float | None = None
    quant_top1: float | None = None
    float_top5: float | None = None
    quant_top5: float | None = None
    agreement: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


def compare(reference: np.ndarray, other: np.ndarray, labels: list[int | None]) -> Comparison:
    n = len(reference)
    if n == 0:
        return Comparison()
    labelled = all(label is not None for label in labels)
    if not labelled:
        return Comparison(n, False, agreement=agreement(reference, other))
    return Comparison(n, True, top_k_accuracy(reference, labels, 1), top_k_accuracy(other, labels, 1),
                      top_k_accuracy(reference, labels, 5), top_k_accuracy(other, labels, 5),
                      agreement(reference, other))

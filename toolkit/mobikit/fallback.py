"""Accuracy-targeted float fallback: keep the worst layers in float until the int8 model meets its target.

The layers are ranked on the calibration images only (`layer_error`); how many stay float is chosen on a selection
split of the evaluation images (`selection_split`: a seeded third), and the run reports on the other two thirds, which
the choice never saw. With too few evaluation images to split, the search chooses on all of them and the report says
its figures are in-sample. The full-integer model is measured against the target first; the per-layer analysis (as
slow as a conversion) runs only when it misses. The worst layer is kept in float, then
the next, one at a time, each candidate re-quantized from the same calibrated model with the layers' output tensors
denylisted (what `QuantizationDebugger.get_nondebug_quantized_model` calls) and passed through the same finishing
step as the full-integer model (bias correction by default), until the target is met or the layer or latency budget
is spent.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from . import defaults
from .convert import requantize
from .images import ImageSet, sample
from .inference import TFLiteClassifier, predict_all
from .labels import ClassList
from .latency import latency_ms
from .layer_error import LayerError
from .metrics import agreement, top_k_accuracy
from .progress import Reporter
from .tensor_names import keras_layer_name

# Ops worth keeping in float: the ones doing arithmetic on weights or sums. Reshape, softmax, pad and friends only
# move or renormalise values; keeping them in float adds conversions and saves no error.
FALLBACK_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD")
_SLACK = 1e-9
SELECTION_SHARE = 1 / 3  # of the evaluation images: the seeded part the search chooses on
MIN_SPLIT_IMAGES = 60  # fewer evaluation images: the search chooses on all of them, and says so
SELECTION_SEED = 1  # not the calibration sample's seed: an independent draw


@dataclass(frozen=True)
class SelectionSplit:
    """The images the search chooses on and the images the run reports on: disjoint, or the same (in-sample)."""

    selection: ImageSet
    report: ImageSet

    @property
    def in_sample(self) -> bool:
        return self.selection is self.report

    def to_json(self) -> dict:
        return {"selection_images": len(self.selection), "report_images": len(self.report),
                "in_sample": self.in_sample}

    def describe(self) -> str:
        if self.in_sample:
            return (f"chosen and reported on the same {len(self.report)} evaluation images (in-sample: fewer than "
                    f"{MIN_SPLIT_IMAGES} to split, so the figures flatter the chosen model)")
        return (f"chosen on {len(self.selection)} selection images (a seeded third of the evaluation images), "
                f"reported on the other {len(self.report)}, which the choice never saw")


def selection_split(images: ImageSet) -> SelectionSplit:
    """A seeded third of `images` to choose on and the rest to report on; all of them for both when fewer than
    MIN_SPLIT_IMAGES."""
    if len(images) < MIN_SPLIT_IMAGES:
        return SelectionSplit(images, images)
    chosen = set(sample(images.paths, round(len(images) * SELECTION_SHARE), SELECTION_SEED))
    return SelectionSplit(ImageSet([p for p in images.paths if p in chosen], images.resolution, images.root),
                          ImageSet([p for p in images.paths if p not in chosen], images.resolution, images.root))


@dataclass(frozen=True)
class FallbackBudget:
    """The accuracy target and the cost the search may pay for it."""

    max_drop: float | None = None  # top-1 points below float, with labels
    min_agreement: float | None = None  # % top-1 agreement with float
    max_layers: int = defaults.MAX_FALLBACK_LAYERS
    max_latency_ratio: float = defaults.MAX_LATENCY_RATIO

    def describe(self) -> str:
        parts = []
        if self.max_drop is not None:
            parts.append(f"top-1 within {self.max_drop:g} points of float")
        if self.min_agreement is not None:
            parts.append(f"agreement with float >= {self.min_agreement:g}%")
        return " and ".join(parts)

    def met(self, float_top1: float | None, top1: float | None, agreement_: float) -> bool:
        return ((self.max_drop is None or 100 * (float_top1 - top1) <= self.max_drop + _SLACK)
                and (self.min_agreement is None or 100 * agreement_ >= self.min_agreement - _SLACK))


@dataclass(frozen=True)
class FallbackStep:
    layers: tuple[str, ...]
    top1: float | None
    agreement: float
    latency_ms: float
    latency_ratio: float
    size_bytes: int
    met: bool

    def to_json(self) -> dict:
        return {**asdict(self), "layers": list(self.layers)}


@dataclass(frozen=True)
class FallbackResult:
    model: bytes
    layers: tuple[str, ...]
    steps: tuple[FallbackStep, ...]
    met: bool
    stopped: str
    float_top1: float | None
    target: str
    ranking: tuple[LayerError, ...] = field(default_factory=tuple)
    split: SelectionSplit | None = None

    def chosen(self) -> FallbackStep:
        return next(step for step in self.steps if step.layers == self.layers)

    def to_json(self) -> dict:
        """Every figure here is measured on the selection images (`split`); the run's eval is the report."""
        return {"target": self.target, "met": self.met, "stopped": self.stopped, "float_top1": self.float_top1,
                "layers": list(self.layers), **(self.split.to_json() if self.split else {}),
                "ranking": [{"layer": e.layer, "op": e.op, "rmse_scale": e.rmse_scale} for e in self.ranking],
                "steps": [step.to_json() for step in self.steps]}


def ranked_layers(errors: list[LayerError]) -> list[LayerError]:
    """Fallback candidates, worst first: one entry per Keras layer with arithmetic worth keeping in float."""
    best: dict[str, LayerError] = {}
    for error in errors:
        if error.op in FALLBACK_OPS and not math.isnan(error.rmse_scale):
            if error.layer not in best or error.rmse_scale > best[error.layer].rmse_scale:
                best[error.layer] = error
    return sorted(best.values(), key=lambda e: -e.rmse_scale)


def _output_names(model: bytes) -> dict[str, list[str]]:
    """Keras layer → the output tensor names of its ops in a quantized model (the names the denylist takes)."""
    from tensorflow.lite.tools import flatbuffer_utils

    parsed = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    graph = parsed.subgraphs[0]
    names: dict[str, list[str]] = {}
    for op in graph.operators:
        for index in op.outputs:
            name = graph.tensors[index].name.decode()
            names.setdefault(keras_layer_name(name), []).append(name)
    return names


@dataclass(frozen=True)
class SearchInputs:
    """What every candidate is measured on: the evaluation images and the float model's scores on them."""

    images: ImageSet
    float_scores: np.ndarray
    labels: list[int]
    class_list: ClassList
    threads: int
    split: SelectionSplit | None = None


def fallback_search(calibrated: bytes, plain: bytes, baseline: bytes, io: str,
                    layer_ranking: Callable[[], list[LayerError]], budget: FallbackBudget, inputs: SearchInputs,
                    finish: Callable[[bytes], bytes], reporter: Reporter) -> FallbackResult:
    """Keep the worst layers in float one at a time until `budget`'s target is met or its cost would be exceeded.

    `baseline` is the full-integer model the run would ship (`finish(plain)`); every candidate goes through `finish`
    too, so the comparison is like for like. `layer_ranking` (the per-layer errors) is called only when the baseline
    misses the target: the debugger run costs as much as a conversion. Returns the first candidate meeting the
    target, else the most accurate one found (the baseline when no layer helped), with every step measured.
    """
    labelled = bool(inputs.labels)
    float_top1 = top_k_accuracy(inputs.float_scores, inputs.labels, 1) if labelled else None

    def measure(model: bytes, names: tuple[str, ...], reference_ms: float | None, description: str) -> FallbackStep:
        scores = predict_all(inputs.images, {"m": TFLiteClassifier(model, inputs.threads)}, inputs.class_list
                             ).scores["m"]
        top1 = top_k_accuracy(scores, inputs.labels, 1) if labelled else None
        agree = agreement(inputs.float_scores, scores)
        latency = latency_ms(model, inputs.threads)
        step = FallbackStep(names, top1, agree, latency, latency / (reference_ms or latency), len(model),
                            budget.met(float_top1, top1, agree))
        reporter.info(f"fallback {description}: " + (f"top-1 {100 * top1:.1f}% (float {100 * float_top1:.1f}%), "
                                                     if labelled else "")
                      + f"agreement {100 * agree:.1f}%, {latency:.2f} ms ({step.latency_ratio:.2f}× int8)")
        return step

    steps = [measure(baseline, (), None, "full-integer int8")]
    models: list[bytes | None] = [baseline]
    ranking: list[LayerError] = []
    stopped = "target met by the full-integer model"
    if not steps[0].met:
        ranking = ranked_layers(layer_ranking())
        names_of = _output_names(plain)
        stopped = f"all {len(ranking)} candidate layers tried"
        for candidate in ranking:
            layers = steps[-1].layers + (candidate.layer,)
            if len(layers) > budget.max_layers:
                stopped = f"--max-fallback-layers {budget.max_layers} reached"
                break
            denylist = [name for layer in layers for name in names_of.get(layer, [])]
            quantized = requantize(calibrated, io, denylist)
            if quantized == plain:
                reporter.warn(f"keeping {candidate.layer} in float did not change the model; skipped")
                continue
            model = finish(quantized)
            step = measure(model, layers, steps[0].latency_ms, f"+{candidate.layer} in float")
            steps.append(step)
            if step.latency_ratio > budget.max_latency_ratio:
                models.append(None)
                stopped = (f"keeping {candidate.layer} in float would cost {step.latency_ratio:.2f}× int8 latency "
                           f"(--max-latency-ratio {budget.max_latency_ratio:g})")
                break
            models.append(model)
            if step.met:
                stopped = f"target met with {len(layers)} layer(s) in float"
                break
    best = _best(steps, models)
    return FallbackResult(models[best], steps[best].layers, tuple(steps), steps[best].met, stopped, float_top1,
                          budget.describe(), tuple(ranking), inputs.split)


def _best(steps: list[FallbackStep], models: list[bytes | None]) -> int:
    """The first step meeting the target; else the most accurate within budget, fewer float layers on ties."""
    usable = [i for i, model in enumerate(models) if model is not None]
    met = [i for i in usable if steps[i].met]
    if met:
        return met[0]
    return max(usable, key=lambda i: ((steps[i].top1 or 0.0), steps[i].agreement, -len(steps[i].layers)))

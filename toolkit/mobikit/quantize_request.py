"""What `quantize` takes: one request, checked before anything slow starts (the CLI's flags map onto its fields)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from . import defaults
from .convert import IO_TYPES, Mode, mode_of
from .errors import UsageError
from .labels import class_list_for, imagenet, read_labels_file
from .qat import check_epochs


@dataclass
class QuantizeRequest:
    """Everything `quantize` takes; None means "the documented default"."""

    arch: str = "v1"
    alpha: float = 1.0
    resolution: int = 224
    weights: str | None = "imagenet"
    model: Path | None = None
    calib: Path | None = None
    calib_samples: int = defaults.CALIBRATION_SAMPLES
    calib_files: tuple[str, ...] | None = None  # image files in `calib` (relative paths) to sample; None: all
    mode: str = "int8"
    io: str | None = None
    eval: Path | None = None
    eval_samples: int | None = None
    eval_files: tuple[str, ...] | None = None  # image files in `eval` (relative paths) to verify on; None: all
    threads: int = defaults.THREADS
    output: Path | None = None
    labels: Path | None = None
    bias_correction: bool | None = None
    max_drop: float | None = None
    min_agreement: float | None = None
    max_fallback_layers: int = defaults.MAX_FALLBACK_LAYERS
    max_latency_ratio: float = defaults.MAX_LATENCY_RATIO
    strict_int8: bool = False
    analyze: bool = False
    qat: bool = False
    qat_epochs: int | None = None  # None: the recipe's (QatSettings.epochs)
    recorded_model: Path | None = None  # where model.json says `model` lives (default: its resolved path)

    @property
    def spec(self) -> Mode:
        return mode_of(self.mode)

    def resolved_io(self) -> str:
        return self.io or self.spec.default_io

    @property
    def targeted(self) -> bool:
        return self.max_drop is not None or self.min_agreement is not None

    @property
    def corrects_bias(self) -> bool:
        return self.spec.corrects_bias and self.bias_correction is not False

    def name(self) -> str:
        if self.model is not None:
            return f"{Path(self.model).stem}_{self.mode}"
        return f"mobilenet_{self.arch}_{self.alpha:g}_{self.resolution}_{self.mode}"

    def validate(self) -> None:
        spec = self.spec
        if self.resolved_io() not in IO_TYPES:
            raise UsageError("unknown {io} {value!r}: choose one of {choices}", "io", value=self.io,
                             choices=", ".join(IO_TYPES))
        if self.resolved_io() not in spec.io_types:
            raise UsageError("{io} {value} needs {mode} int8 (mode {mode_value} keeps float inputs and outputs)",
                             "io", "mode", value=self.io, mode_value=self.mode)
        if self.bias_correction and not spec.corrects_bias:
            raise UsageError("{bias_correction} works on full-integer models only: use it with {mode} int8",
                             "bias_correction", "mode")
        if self.qat and not spec.calibrated:
            raise UsageError("{qat} fine-tunes for a full-integer model: use it with {mode} int8", "qat", "mode")
        check_epochs(self.qat_epochs, self.qat)
        if self.calib_samples < 1 or (self.eval_samples is not None and self.eval_samples < 1):
            raise UsageError("{calib_samples} and {eval_samples} must be >= 1", "calib_samples", "eval_samples")
        if self.threads < 1:
            raise UsageError("{threads} must be >= 1", "threads")
        if self.strict_int8 and self.targeted:
            raise UsageError("{strict_int8} forbids float fallback, which {max_drop} / {min_agreement} would need: "
                             "use one or the other", "strict_int8", "max_drop", "min_agreement")
        if (self.targeted or self.analyze or self.strict_int8) and not spec.corrects_bias:
            raise UsageError("{max_drop}, {min_agreement}, {strict_int8} and {analyze} work on int8 models: use "
                             "them with {mode} int8", "max_drop", "min_agreement", "strict_int8", "analyze", "mode")
        for value, param in ((self.max_drop, "max_drop"), (self.min_agreement, "min_agreement")):
            if value is not None and not (math.isfinite(value) and 0 <= value <= 100):
                raise UsageError("{%s} is a percentage (points) between 0 and 100; got {value}" % param, param,
                                 value=value)
        if self.max_fallback_layers < 1 or not (math.isfinite(self.max_latency_ratio)
                                                and self.max_latency_ratio > 0):
            raise UsageError("{max_fallback_layers} must be >= 1 and {max_latency_ratio} a number > 0 (use "
                             "{strict_int8} to forbid fallback)", "max_fallback_layers", "max_latency_ratio",
                             "strict_int8")
        if self.model is not None and not Path(self.model).is_file():
            raise UsageError("{model} not found: {path}", "model", path=str(self.model))
        if self.labels is not None and self.model is None:
            class_list_for(len(imagenet()), self.labels)  # built from the table: the ImageNet classifier
        elif self.labels is not None:
            read_labels_file(self.labels)  # a missing or unreadable file is refused before the model is built

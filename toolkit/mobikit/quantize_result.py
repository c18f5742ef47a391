"""What a `quantize` run made and measured, and the output folder it is written to."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .bias_correction import CorrectionReport
from .description import ModelDescription
from .fallback import FallbackResult
from .labels import ClassList
from .layer_error import LayerError
from .metrics import Comparison
from .outputs import new_folder
from .qat import QatReport


@dataclass(frozen=True)
class BiasCorrectionComparison:
    """Plain int8 next to bias-corrected int8 (both full-integer, before any fallback), against float."""

    report: CorrectionReport
    plain: Comparison
    corrected: Comparison
    plain_kl: float | None
    corrected_kl: float | None

    def to_json(self) -> dict:
        return {**self.report.to_json(), "plain": {**self.plain.to_json(), "kl": self.plain_kl},
                "corrected": {**self.corrected.to_json(), "kl": self.corrected_kl}}


@dataclass(frozen=True)
class QuantizeResult:
    """What a quantize run made and measured; `to_json()` is `--json`, `report_json()` is report.json."""

    output_dir: Path
    model: str
    description: ModelDescription
    eval: Comparison
    eval_source: str
    calib_source: str
    calib_samples: int
    calib_skipped: int
    size_bytes: int
    float_size_bytes: int
    latency_ms: dict
    threads: int
    timings_s: dict
    fallback: FallbackResult | None = None
    fallback_summary: str | None = None
    bias_correction: BiasCorrectionComparison | None = None
    qat: QatReport | None = None
    analysis: tuple[LayerError, ...] = ()
    files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def mode(self) -> str:
        return self.description.mode

    @property
    def io(self) -> str:
        return self.description.input.dtype

    def to_json(self) -> dict:
        """The `mobikit quantize --json` object."""
        return {"output_dir": str(self.output_dir), "model": self.model, "mode": self.mode,
                "size_bytes": self.size_bytes, "float_size_bytes": self.float_size_bytes,
                "calib_samples": self.calib_samples, "eval": self.eval.to_json(), "latency_ms": self.latency_ms,
                "timings_s": self.timings_s}

    def report_json(self) -> dict:
        fallback = None
        if self.fallback is not None:
            fallback = {**self.fallback.to_json(), "summary": self.fallback_summary,
                        "plot": "fallback.png" if "fallback.png" in self.files else None}
        report = {
            "model": self.model, "mode": self.mode, "io": self.io, "description": self.description.to_json(),
            "calibration": {"source": self.calib_source, "samples": self.calib_samples,
                            "skipped": self.calib_skipped},
            "eval": {**self.eval.to_json(), "source": self.eval_source},
            "size_bytes": {"float": self.float_size_bytes, "quant": self.size_bytes},
            "latency_ms": {**self.latency_ms, "threads": self.threads, "delegate": "xnnpack", "statistic": "median"},
            "timings_s": self.timings_s, "full_integer": self.description.full_integer,
            "fallback_layers": list(self.description.fallback_layers), "fallback": fallback,
            "notes": list(self.notes), "warnings": list(self.warnings),
        }
        if self.bias_correction is not None:
            report["bias_correction"] = self.bias_correction.to_json()
        if self.qat is not None:
            report["qat"] = self.qat.to_json()
        if self.analysis:
            from .report import analysis_entry

            report["analysis"] = analysis_entry(self.analysis)
        return report


def write_output_folder(output: Path, model_bytes: bytes, class_list: ClassList, result: QuantizeResult,
                        files: dict[str, bytes], inputs=()) -> None:
    """The output folder as one atomic step: it replaces mobikit's earlier folder only when complete."""
    from .outputs import write_bytes, write_text
    from .report import render_quantize_report

    with new_folder(output, "quantize", inputs) as folder:
        for file_name, data in files.items():
            write_bytes(folder / file_name, data)
        write_bytes(folder / "model.tflite", model_bytes)
        write_text(folder / "labels.txt", "\n".join(class_list.names) + "\n")
        write_text(folder / "model.json", json.dumps(result.description.to_json(), indent=2) + "\n")
        write_text(folder / "report.json", json.dumps(result.report_json(), indent=2, default=str) + "\n")
        write_text(folder / "report.md", render_quantize_report(result))

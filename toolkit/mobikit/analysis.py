"""The `analyze` verb: every quantized layer's int8 error on the calibration images, as a CSV, a chart and a ranking.

For a quantize output folder the float model is rebuilt from what model.json records (architecture, width,
resolution, weights) and calibrated on the folder's own calibration images — refused when those no longer match
(the folder was checked by `load_output_folder`, the images by their fingerprint). A `--qat` folder's fine-tuned
weights exist only in its model.tflite: they are read back from it (`qat.written_calibration`), so analyze measures
the model that was written, not the float model's post-training calibration. The folder is updated as one
atomic step (analysis.csv, analysis.png, and the analysis in report.json / report.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from .convert import calibrate
from .input_grid import GRID, on_the_grid
from .description import OutputFolder, load_output_folder
from .errors import UsageError
from . import defaults
from .images import ImageSet, calibration_and_holdout, embedded_images
from .layer_error import LayerError, analysis_csv, layer_errors, worst_layers
from .outputs import new_folder, write_bytes, write_text
from .progress import Reporter
from .qat import written_calibration


PTQ_ANALYZED = "the float model's weights (post-training calibration, before bias correction)"
QAT_ANALYZED = ("the written model's weights (quantization-aware fine-tuned, bias-corrected; read back from "
                "model.tflite)")


@dataclass
class AnalyzeRequest:
    """`analyze`: a quantize output folder, or a model to build (arch/alpha/resolution) or load (`model`)."""

    folder: Path | None = None
    arch: str | None = None
    alpha: float = 1.0
    resolution: int = 224
    weights: str | None = "imagenet"
    model: Path | None = None
    calib: Path | None = None
    calib_samples: int | None = None
    output: Path | None = None

    def validate(self) -> None:
        if self.folder is not None and self.arch is not None:
            raise UsageError("give either an output {folder} or {arch}, not both", "folder", "arch")
        if self.folder is not None and self.output is not None:
            raise UsageError("{output} is for {arch}/{model} runs; a folder is analyzed in place", "output", "arch",
                             "model")
        if self.folder is None and self.arch is None and self.model is None:
            raise UsageError("analyze needs an output {folder}, {arch} (with {alpha}/{resolution}) or {model} "
                             "PATH.keras", "folder", "arch", "alpha", "resolution", "model")
        if self.calib_samples is not None and self.calib_samples < 1:
            raise UsageError("{calib_samples} must be >= 1", "calib_samples")


@dataclass(frozen=True)
class AnalyzeResult:
    output_dir: Path
    model: str
    calib_samples: int
    errors: tuple[LayerError, ...]
    seconds: float
    analyzed: str = ""  # which weights: PTQ_ANALYZED or QAT_ANALYZED

    def to_json(self) -> dict:
        return {"output_dir": str(self.output_dir), "model": self.model, "analyzed": self.analyzed,
                "calib_samples": self.calib_samples,
                "files": {"csv": str(self.output_dir / "analysis.csv"), "plot": str(self.output_dir / "analysis.png")},
                "seconds": round(self.seconds, 3),
                "worst": [{"layer": e.layer, "op": e.op, "rmse_scale": e.rmse_scale} for e in worst_layers(self.errors)],
                "layers": [e.to_json() for e in self.errors]}


def analyze(request: AnalyzeRequest | None = None, reporter: Reporter | None = None, **options) -> AnalyzeResult:
    """Calibrate the float model as quantize does, measure every layer's int8 error, write the CSV and chart."""
    from .models import build_model, load_keras_image_model
    from .outputs import check_target

    request = request or AnalyzeRequest(**options)
    reporter = reporter or Reporter()
    start = time.perf_counter()
    request.validate()
    folder = load_output_folder(request.folder, "folder") if request.folder is not None else None
    model = request.model
    if folder is not None:
        arch, alpha, resolution, weights, name = _folder_model(folder, request)
        model = model or (weights if arch is None else None)
        output = folder.path
        check_target(output, "quantize", (request.calib, request.model))
    else:
        arch, alpha, resolution, weights = request.arch or "v1", request.alpha, request.resolution, request.weights
        name = (Path(request.model).stem if request.model else f"mobilenet_{arch}_{alpha:g}_{resolution}")
        output = Path(request.output) if request.output else Path("mobikit-out") / f"{name}_analysis"
        check_target(output, "analysis", (request.calib, request.model))
    # a folder's calibration images are checked before the slow build; otherwise the model decides the size
    calib = _calibration_images(folder, request, resolution) if folder is not None else None
    keras_model = (load_keras_image_model(model) if model is not None
                   else build_model(arch, alpha, resolution, weights=weights))
    built = int(keras_model.input_shape[1])
    if folder is not None and built != folder.description.resolution:
        raise UsageError("{model} takes {built}×{built} images but {folder} holds a {held}×{held} model", "model",
                         "folder", built=built, held=folder.description.resolution)
    if calib is None:
        calib = _calibration_images(None, request, built)
    source = on_the_grid(keras_model)[0]  # as quantize calibrates int8 models: on the exact input grid
    log_path = output.parent / f"{output.name}.converter-error.log"
    qat = folder is not None and folder.description.qat
    if qat:  # the fine-tuned weights live only in the written model: read them back from it
        calibrated = written_calibration(source, folder.model_path.read_bytes(), calib, reporter, log_path)
    else:
        calibrated = calibrate(source, calib, reporter, log_path, GRID)
    errors = layer_errors(calibrated, calib, reporter, GRID)
    analyzed = QAT_ANALYZED if qat else PTQ_ANALYZED
    title = f"{name}: int8 error per layer on {calib.used} calibration images ({analyzed.split(' (')[0]})"
    fallback = folder.description.fallback_layers if folder is not None else ()
    _write(output, folder, errors, title, fallback, request)
    return AnalyzeResult(output, name, calib.used, tuple(errors), time.perf_counter() - start, analyzed)


def _folder_model(folder: OutputFolder, request: AnalyzeRequest):
    """(arch, alpha, resolution, weights, name) of the float model a folder was quantized from."""
    description = folder.description
    if description.mode != "int8":
        raise UsageError("{folder} {path} holds a {mode} model: analyze needs an int8 one", "folder",
                         path=str(folder.path), mode=description.mode)
    recorded = description.weights if description.arch is None else None  # the saved model it came from
    if description.arch is None and request.model is None and not (recorded and Path(recorded).is_file()):
        raise UsageError("{folder} {path} was quantized from a saved .keras model, which the folder does not hold "
                         "and which is not at {recorded} any more: pass it with {model} PATH.keras", "folder", "model",
                         path=str(folder.path), recorded=str(recorded))
    weights = request.weights if request.weights != "imagenet" or description.weights is None \
        else description.weights
    return description.arch, description.alpha, description.resolution, weights, description.name


def _calibration_images(folder: OutputFolder | None, request: AnalyzeRequest, resolution: int) -> ImageSet:
    """The images to calibrate on: `calib`, else the folder's own calibration set (refused when it changed)."""
    recorded = folder.description.calibration if folder is not None else None
    if request.calib is not None or recorded is None:
        source = Path(request.calib) if request.calib is not None else embedded_images("calibration")
        return calibration_and_holdout(source, request.calib_samples or defaults.CALIBRATION_SAMPLES, resolution)[0]
    source = embedded_images("calibration") if recorded.embedded else Path(recorded.source)
    if not source.is_dir():
        raise UsageError("{folder} {path} was calibrated on {source}, which is not there any more: pass the "
                         "images with {calib}", "folder", "calib", path=str(folder.path), source=str(source))
    calib = calibration_and_holdout(source, request.calib_samples or recorded.samples, resolution,
                                    files=recorded.files)[0]
    if request.calib_samples is None and recorded.fingerprint and calib.fingerprint() != recorded.fingerprint:
        raise UsageError("the images in {source} are not the ones {folder} {path} was calibrated on (files added, "
                         "removed or changed): pass the calibration images with {calib}", "folder", "calib",
                         source=str(source), path=str(folder.path))
    return calib


def _write(output: Path, folder: OutputFolder | None, errors: list[LayerError], title: str,
           fallback: tuple[str, ...], request: AnalyzeRequest) -> None:
    from .plots import analysis_png
    from .report import analysis_entry, with_analysis

    kind = "quantize" if folder is not None else "analysis"
    with new_folder(output, kind, (request.calib, request.model), seed=folder.path if folder else None) as staging:
        write_text(staging / "analysis.csv", analysis_csv(errors))
        write_bytes(staging / "analysis.png", analysis_png(errors, title, fallback))
        if folder is not None and (staging / "report.json").is_file():
            report = json.loads((staging / "report.json").read_text(encoding="utf-8"))
            report["analysis"] = analysis_entry(errors)
            write_text(staging / "report.json", json.dumps(report, indent=2, default=str) + "\n")
            markdown = (staging / "report.md").read_text(encoding="utf-8") if (staging / "report.md").is_file() else ""
            write_text(staging / "report.md", with_analysis(markdown, errors))

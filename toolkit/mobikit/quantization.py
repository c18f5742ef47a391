"""The `quantize` verb: post-training quantization to a TFLite model, verified against the float model in one run.

`quantize()` composes numbered steps, each a function of the run so far:
1. prepare  — check the request and the output target (before anything slow), build or load the float model
               (for int8 folded onto the exact input grid), choose the calibration and evaluation images and the
               fallback budget;
2. convert  — float TFLite; for int8 calibrate once, then quantize; with `qat`, fine-tune under simulated int8
               (`qat`) and convert the fine-tuned model with the same ranges;
3. correct  — empirical bias correction (int8), then the standard TFLite Metadata (labels, normalization), so
               the fallback search and verify measure exactly the bytes that are written;
4. fall back — keep the worst layers in float when the full-integer model misses its accuracy target (int8);
5. verify   — float vs quantized on the evaluation images: accuracy, agreement, size, latency;
6. write    — model.tflite, labels.txt, model.json, report.json and report.md as one atomic folder.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import __version__, defaults, preprocess
from .bias_correction import CorrectionReport, correct_biases
from .convert import Mode, calibrate, convert, requantize
from .description import Calibration, ModelDescription, TensorSpec
from .errors import UsageError
from .fallback import FallbackBudget, FallbackResult, SearchInputs, fallback_search, selection_split
from .images import ImageSet, calibration_split, embedded_images, image_set
from .input_grid import FLOAT_INPUT, GRID, Normalization, on_the_grid
from .inference import Predictions, TFLiteClassifier, keras_predictor, labels_of, predict_all, replay
from .labels import ClassList, class_list_for, read_labels_file
from .latency import latency_ms
from .layer_error import LayerError, layer_errors
from .metadata import (ClassifierMetadata, attach_metadata, consumers, consumers_sentence, image_input_range,
                       scores_range)
from .metrics import compare, kl_divergence
from .outputs import check_target
from .progress import Reporter
from .qat import QatReport, QatSettings, adopt_reference, check_supported, fine_tune, simulation_error
from .quantize_request import QuantizeRequest
from .quantize_result import BiasCorrectionComparison, QuantizeResult, write_output_folder
from .runtime import library_versions, raise_if_stopped

__all__ = ["QuantizeRequest", "QuantizeResult", "BiasCorrectionComparison", "quantize", "write_output_folder"]

RECOMMENDED_CALIBRATION = 100  # fewer images than this: recommend a larger, domain-specific set
EMBEDDED = "embedded"


# ------------------------------------------------------------------------------------------------ the run's state


class _Timer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)


@dataclass
class _Run:
    """What the steps hand each other."""

    request: QuantizeRequest
    reporter: Reporter
    name: str
    output: Path
    log_path: Path
    timer: _Timer = field(default_factory=_Timer)
    keras_model: object = None
    source_model: object = None  # what is converted: the float model, on the int8 input grid for int8 modes
    normalization: Normalization = FLOAT_INPUT
    class_list: ClassList | None = None
    calib: ImageSet | None = None
    eval_images: ImageSet | None = None
    eval_source: str = ""
    budget: FallbackBudget | None = None
    float_bytes: bytes = b""
    calibrated: bytes = b""  # what is quantized: the float model (fine-tuned with --qat) with recorded ranges
    reference: bytes = b""  # the original float model with recorded ranges: what bias correction aims at
    plain: bytes = b""
    baseline: bytes = b""  # the full-integer model as finished (bias-corrected), before any fallback
    quantized: bytes = b""
    correction: CorrectionReport | None = None
    qat: QatReport | None = None
    simulation: object = None  # the trained SimulatedInt8 of --qat
    metadata: ClassifierMetadata | None = None
    errors: list[LayerError] = field(default_factory=list)
    fallback: FallbackResult | None = None
    fallback_summary: str | None = None
    float_scores: object = None
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def resolution(self) -> int:
        return int(self.keras_model.input_shape[1])

    def layer_ranking(self) -> list[LayerError]:
        """Per-layer int8 errors, measured once and only when needed (analyze, or a fallback search)."""
        if not self.errors:
            self.errors.extend(layer_errors(self.calibrated, self.calib, self.reporter, self.normalization))
        return self.errors


def quantize(request: QuantizeRequest | None = None, reporter: Reporter | None = None, **options) -> QuantizeResult:
    """Build or load the float model, convert it, verify it, and write the output folder atomically.

    Pass a `QuantizeRequest`, or its fields as keywords: `mobikit.quantize(alpha=0.25, calib="images/")`.
    """
    request = request or QuantizeRequest(**options)
    run = _prepare(request, reporter or Reporter())
    for step in (_convert, _correct, _fall_back):
        step(run)
        raise_if_stopped()
    predictions, latency = _verify(run)
    return _write(run, predictions, latency)


# ------------------------------------------------------------------------------------------------ 1. prepare


def _prepare(request: QuantizeRequest, reporter: Reporter) -> _Run:
    """Everything that can be refused is checked before the model is built (the first slow step)."""
    from .models import build_model, load_keras_image_model

    request.validate()
    name = request.name()
    output = Path(request.output) if request.output else Path("mobikit-out") / name
    check_target(output, "quantize", (request.calib, request.eval, request.model, request.labels))
    if request.labels is not None:
        read_labels_file(request.labels)
    calib_dir = Path(request.calib) if request.calib else embedded_images("calibration")
    chosen, rest = calibration_split(calib_dir, request.calib_samples, files=request.calib_files)
    ImageSet(chosen, 0, calib_dir).probe("calib")  # decoded, not just listed, before the first slow step
    if request.targeted and request.eval is None and request.calib is not None and not rest:
        raise UsageError("{max_drop} / {min_agreement} need evaluation images apart from the calibration ones to "
                         "measure the drop: pass {eval} DIR (labelled images), or a {calib} folder holding more "
                         "images than {calib_samples}", "max_drop", "min_agreement", "eval", "calib",
                         "calib_samples")
    if request.eval is not None:
        image_set(request.eval, request.eval_samples, 0).probe("eval")
    run = _Run(request, reporter, name, output, output.parent / f"{output.name}.converter-error.log")
    with run.timer.phase("build"):
        run.keras_model = (load_keras_image_model(request.model) if request.model is not None else
                           build_model(request.arch, request.alpha, request.resolution, weights=request.weights))
    run.class_list = class_list_for(int(run.keras_model.output_shape[-1]), request.labels)
    run.source_model, run.normalization = _on_input_grid(run.keras_model, request.spec, reporter)
    if request.qat:
        check_supported(run.source_model)
    run.calib = ImageSet(chosen, run.resolution, calib_dir)
    holdout = ImageSet(rest, run.resolution, calib_dir)
    if request.spec.calibrated and len(run.calib) < RECOMMENDED_CALIBRATION:
        reporter.info(f"calibrating on {len(run.calib)} images from {calib_dir}: a larger, domain-specific set "
                      "(100–500 images like the ones the model will see, passed with --calib DIR) is recommended")
    run.eval_images, run.eval_source = _choose_eval(request, run.calib, holdout, run.resolution, reporter)
    run.budget = _fallback_budget(request, run)
    return run


def _on_input_grid(keras_model, spec: Mode, reporter: Reporter) -> tuple[object, Normalization]:
    """The model a calibrated (int8) conversion starts from: the float model folded onto the exact int8 input
    grid (p − 128) / 128 (`input_grid`); other modes convert the float model as it is."""
    if not spec.calibrated:
        return keras_model, FLOAT_INPUT
    source, folded = on_the_grid(keras_model)
    if not folded:
        reporter.warn("the model does not start with a Conv2D that has a bias or a BatchNormalization: the int8 "
                      "model reads (pixel - 128) / 128 where the float model reads pixel / 127.5 - 1 (at most "
                      "0.8% apart) without compensation")
    return source, GRID


def _choose_eval(request: QuantizeRequest, calib: ImageSet, holdout: ImageSet, resolution: int,
                 reporter: Reporter) -> tuple[ImageSet, str]:
    if request.eval is not None:
        images = image_set(request.eval, request.eval_samples, resolution, files=request.eval_files)
        listed = "" if request.eval_files is None else "listed "
        shared = {os.path.realpath(p) for p in images.paths} & {os.path.realpath(p) for p in calib.paths}
        if shared:
            reporter.warn(f"{len(shared)} of the {len(images)} evaluation images were also calibration images: "
                          "verifying on them flatters the result; pass an --eval folder apart from --calib")
        return images, f"{request.eval} ({len(images)} {listed}images)"
    if request.calib is None:
        images = image_set(embedded_images("verification"), request.eval_samples, resolution)
        return images, f"the embedded verification photos ({len(images)}; not used for calibration)"
    if len(holdout):
        limit = request.eval_samples or defaults.HOLDOUT_SAMPLES
        images = ImageSet(holdout.paths[:limit], resolution, holdout.root)
        capped = f" (the first {limit} of {len(holdout)}; --eval-samples sets how many)" \
            if len(holdout) > limit else ""
        reporter.info(f"verifying on {len(images)} calibration-folder images not used for calibration{capped} "
                      "(pass --eval DIR for a separate labelled set)")
        return images, f"calibration-folder images not used for calibration ({len(images)})"
    reporter.warn(f"every image of the calibration folder was used for calibration: verifying on those same "
                  f"{len(calib)} images, which flatters the result; pass --eval DIR for an honest check")
    return calib, f"the calibration images themselves ({len(calib)}; no held-out images)"


def _fallback_budget(request: QuantizeRequest, run: _Run) -> FallbackBudget | None:
    """The accuracy target of the fallback search, or None when the run stays as converted (and why)."""
    if not request.spec.corrects_bias:
        return None
    if request.strict_int8:
        run.reporter.info("full-integer only (--strict-int8): every layer stays int8, no float fallback")
        return None
    if run.eval_images is run.calib:
        return None
    limits = {"max_layers": request.max_fallback_layers, "max_latency_ratio": request.max_latency_ratio}
    if all(label is not None for label in labels_of(run.eval_images, run.class_list)):
        if not request.targeted and len(run.eval_images) < defaults.MIN_TARGET_IMAGES:
            run.reporter.info(f"no float-fallback search: on {len(run.eval_images)} labelled images one image is "
                              f"{100 / len(run.eval_images):.1f} points of top-1, too coarse for the default "
                              f"{defaults.MAX_DROP:g}-point target (it applies from {defaults.MIN_TARGET_IMAGES} "
                              "images; --max-drop P searches anyway)")
            return None
        return FallbackBudget(defaults.MAX_DROP if request.max_drop is None else request.max_drop,
                              request.min_agreement, **limits)
    if not request.targeted:
        return None
    if request.max_drop is not None:
        run.reporter.info("the evaluation images carry no labels, so top-1 cannot be measured: judging the int8 "
                          "model by top-1 agreement with float >= "
                          f"{request.min_agreement or defaults.MIN_AGREEMENT:g}% (--min-agreement) instead of "
                          "--max-drop")
    return FallbackBudget(None, request.min_agreement or defaults.MIN_AGREEMENT, **limits)


# ------------------------------------------------------------------------------------------------ 2.–4. convert


def _convert(run: _Run) -> None:
    request = run.request
    with run.timer.phase("float_convert"):
        run.float_bytes = convert(run.keras_model, "fp32", run.log_path)
    with run.timer.phase("calibrate_convert"):
        if request.spec.calibrated:
            run.calibrated = run.reference = calibrate(run.source_model, run.calib, run.reporter, run.log_path,
                                                       run.normalization)
            run.plain = requantize(run.calibrated, request.resolved_io(), log_path=run.log_path)
        else:
            run.plain = run.float_bytes if request.mode == "fp32" else convert(run.keras_model, request.mode,
                                                                               run.log_path)
    if request.qat:
        _fine_tune(run)
    if run.calib.skipped_message():
        run.reporter.warn(run.calib.skipped_message())
    run.quantized = run.baseline = run.plain


def _fine_tune(run: _Run) -> None:
    """Quantization-aware fine-tuning (`qat`), then the fine-tuned model through the same converter, quantized with
    the ranges the simulation used."""
    from .models import ends_in_softmax

    request = run.request
    with run.timer.phase("qat"):
        settings = QatSettings(epochs=request.qat_epochs or QatSettings.epochs)
        run.simulation, run.qat = fine_tune(run.source_model, run.plain, run.calib, run.reporter, settings,
                                            ends_in_softmax(run.keras_model))
        tuned = calibrate(run.simulation.export(), run.calib, run.reporter, run.log_path, run.normalization)
        run.calibrated = adopt_reference(tuned, run.reference)
        run.plain = requantize(run.calibrated, request.resolved_io(), log_path=run.log_path)
    run.reporter.info(f"QAT: {run.qat.steps} steps on {run.qat.images} calibration images in "
                      f"{run.qat.seconds:.0f} s, distillation loss {run.qat.first_loss:.4f} → {run.qat.last_loss:.4f}")


def _correct(run: _Run) -> None:
    if run.request.corrects_bias:
        with run.timer.phase("bias_correction"):
            run.baseline, run.correction = correct_biases(run.reference, run.plain, run.calib, run.reporter,
                                                          run.request.threads, run.normalization)
    run.metadata = _metadata(run)
    run.baseline = run.quantized = attach_metadata(run.baseline, run.metadata)
    io = run.request.resolved_io()
    run.reporter.info(consumers_sentence(io, io) + ("" if all(consumers(io, io).values()) else
                                                    " — quantize with --io uint8 or --io float32 for them"))
    if run.request.analyze:
        with run.timer.phase("analyze"):
            run.layer_ranking()


def _metadata(run: _Run) -> ClassifierMetadata:
    """The TFLite Metadata the written model carries (for MediaPipe Tasks, the Task Library, Netron), rendered from
    the values model.json is built from: `preprocess.describe`, the class list, the name, the I/O type."""
    from .models import ends_in_softmax

    request, resolution = run.request, run.resolution
    rule = preprocess.describe(resolution, run.normalization.mean, run.normalization.std)
    io = request.resolved_io()
    mean, std = (float(rule["mean"]),) * 3, (float(rule["std"]),) * 3
    source = (f"MobileNet {request.arch.upper()} alpha {request.alpha:g}" if request.model is None
              else Path(request.model).name)
    text = (f"{source} at {resolution}x{resolution}, {len(run.class_list)} classes, {request.mode} with {io} "
            f"input/output. Feed an RGB image resized so its shorter side is {rule['resize_shorter_side_to']} px and "
            f"centre-cropped to {resolution}x{resolution}; real input = (pixel - {rule['mean']:g}) / {rule['std']:g}.")
    return ClassifierMetadata(name=run.name, labels=tuple(run.class_list.names), mean=mean, std=std, description=text,
                              version=__version__, author="mobikit", color_space=rule["color"],
                              input_range=image_input_range(io, mean, std),
                              output_range=scores_range(io, ends_in_softmax(run.keras_model)))


def _fall_back(run: _Run) -> None:
    if run.budget is None:
        return
    request = run.request
    split = selection_split(run.eval_images)
    run.reporter.info(f"fallback search: {split.describe()}")
    if not split.in_sample:
        run.eval_images, run.eval_source = split.report, f"{run.eval_source}, report split ({len(split.report)} of " \
            f"{len(split.report) + len(split.selection)}; the other {len(split.selection)} chose the fallback)"
    with run.timer.phase("fallback_search"):  # includes the per-layer analysis when the search needs it
        predictions = predict_all(split.selection, {"float": keras_predictor(run.keras_model)}, run.class_list,
                                  run.reporter, "fallback search: float predictions")
        if split.in_sample:
            run.float_scores = predictions.scores["float"]  # verify replays them on the same images
        inputs = SearchInputs(split.selection, predictions.scores["float"],
                              predictions.labels if predictions.labelled else [], run.class_list, request.threads,
                              split)
        run.fallback = fallback_search(run.calibrated, run.plain, run.baseline, request.resolved_io(),
                                       run.layer_ranking, run.budget, inputs, lambda model: _finish(run, model),
                                       run.reporter)
    run.quantized = run.fallback.model
    run.fallback_summary = _announce_fallback(run.fallback, run.reporter)
    if len(run.fallback.steps) > 1:
        from .plots import tradeoff_png

        run.files["fallback.png"] = tradeoff_png(run.fallback, f"{run.name}: float fallback search "
                                                               f"({run.budget.describe()})")


def _finish(run: _Run, candidate: bytes) -> bytes:
    """What the full-integer model went through after conversion, applied to a fallback candidate."""
    if run.request.corrects_bias:
        candidate = correct_biases(run.reference, candidate, run.calib, Reporter(), run.request.threads,
                                   run.normalization)[0]
    return attach_metadata(candidate, run.metadata)


def _announce_fallback(result: FallbackResult, reporter: Reporter) -> str:
    """One plain sentence (kept in the result): full-integer or which layers stayed float and why; a warning when the
    target is missed."""
    first, chosen = result.steps[0], result.chosen()

    def numbers(step) -> str:
        top1 = (f"top-1 {100 * step.top1:.1f}% vs float {100 * result.float_top1:.1f}% "
                f"(drop {100 * (result.float_top1 - step.top1):.1f} points), " if step.top1 is not None else "")
        return f"{top1}agreement {100 * step.agreement:.1f}%, {step.latency_ratio:.2f}× full-integer latency"

    if not result.layers:
        sentence = (f"full-integer int8: {numbers(first)}" + (" — meets" if first.met else " — misses")
                    + f" the target ({result.target})")
    else:
        sentence = (f"not full-integer: kept in float {', '.join(result.layers)} (highest RMSE/scale on the "
                    f"calibration images) because the full-integer model missed the target ({result.target}: "
                    f"{numbers(first)}); with them {numbers(chosen)}")
    if result.split is not None:
        sentence += (f" (in-sample, on all {len(result.split.report)} evaluation images)" if result.split.in_sample
                     else f" (on the {len(result.split.selection)} selection images)")
    if not result.met:  # the warning carries the sentence; met, the sentence is only in the result (printed once)
        reporter.warn(f"the fallback search could not reach {result.target} within the budget ({result.stopped}); "
                      f"keeping the best model found: {sentence}")
    return sentence


# ------------------------------------------------------------------------------------------------ 5. verify


def _verify(run: _Run) -> tuple[Predictions, dict]:
    request = run.request
    with run.timer.phase("verify"):
        models = {"float": keras_predictor(run.keras_model) if run.float_scores is None else replay(run.float_scores),
                  "quant": TFLiteClassifier(run.quantized, request.threads)}
        if run.correction is not None:
            models["plain"] = TFLiteClassifier(run.plain, request.threads, run.normalization)  # no metadata yet
            if run.quantized != run.baseline:
                models["corrected"] = TFLiteClassifier(run.baseline, request.threads)
        predictions = predict_all(run.eval_images, models, run.class_list, run.reporter, "verifying")
        latency = {"float": latency_ms(run.float_bytes, request.threads),
                   "quant": latency_ms(run.quantized, request.threads)}
    if run.simulation is not None:
        with run.timer.phase("qat_simulation_check"):
            error = simulation_error(run.simulation, run.plain, run.eval_images, run.reporter)
        run.qat = replace(run.qat, simulation=error)
        run.reporter.info(f"QAT simulation vs the converted model on {error['images']} images: mean |logit "
                          f"difference| {error['mean_abs']:.4f} ({error['mean_abs_steps']:.2f} int8 steps), same "
                          f"top-1 on {100 * error['same_top1']:.1f}%")
    note = host_timing_note(latency) if request.spec.calibrated else None
    if note:
        run.reporter.info(note)
    return predictions, latency


def host_timing_note(latency_ms: dict) -> str | None:
    """One line when host timing inverts what a phone is expected to show (int8 slower than float)."""
    if latency_ms["quant"] <= latency_ms["float"]:
        return None
    return (f"on this host the int8 model is slower than float ({latency_ms['quant']:.2f} vs "
            f"{latency_ms['float']:.2f} ms): host x86 timing says little about a phone's int8 kernels; measure "
            "there with mobikit bench --device")


def _bias_comparison(run: _Run, predictions: Predictions) -> BiasCorrectionComparison | None:
    if run.correction is None:
        return None
    scores = predictions.scores
    corrected = "corrected" if "corrected" in scores else "quant"
    measured = len(scores["float"]) > 0
    return BiasCorrectionComparison(
        run.correction, compare(scores["float"], scores["plain"], predictions.labels),
        compare(scores["float"], scores[corrected], predictions.labels),
        kl_divergence(scores["float"], scores["plain"]) if measured else None,
        kl_divergence(scores["float"], scores[corrected]) if measured else None)


# ------------------------------------------------------------------------------------------------ 6. write


def _describe(run: _Run, model_bytes: bytes) -> ModelDescription:
    """The model.json of the run: every number the phone app and the host commands need."""
    from .models import ends_in_softmax

    request = run.request
    classifier = TFLiteClassifier(model_bytes, 1)
    built = request.model is None
    calibration = None
    if request.spec.calibrated:
        source = str(Path(request.calib).resolve()) if request.calib else EMBEDDED
        calibration = Calibration(source, request.calib is None, run.calib.used, run.calib.fingerprint(),
                                  request.calib_files)
    fallback_layers = tuple(run.fallback.layers) if run.fallback else ()
    description = ModelDescription(
        name=run.name, mode=request.mode, resolution=classifier.resolution, classes=classifier.classes,
        input=TensorSpec.of(classifier.interpreter.get_input_details()[0]),
        output=TensorSpec.of(classifier.interpreter.get_output_details()[0]),
        softmax=ends_in_softmax(run.keras_model), size_bytes=0, sha256="",
        arch=request.arch if built else None, alpha=request.alpha if built else None,
        weights=(request.weights if request.weights in (None, "imagenet") else str(Path(request.weights).resolve()))
        if built else str(request.recorded_model or Path(request.model).resolve()),  # analyze rebuilds from it
        calibration=calibration, full_integer=request.spec.calibrated and not fallback_layers,
        fallback_layers=fallback_layers, bias_correction=run.correction is not None, qat=request.qat,
        preprocessing=preprocess.describe(classifier.resolution, run.normalization.mean, run.normalization.std),
        versions=library_versions())
    return description.with_model(model_bytes)


def _write(run: _Run, predictions: Predictions, latency: dict) -> QuantizeResult:
    request = run.request
    description = _describe(run, run.quantized)
    if run.request.analyze:
        from .plots import analysis_png
        from .layer_error import analysis_csv

        run.files["analysis.csv"] = analysis_csv(run.errors).encode()
        run.files["analysis.png"] = analysis_png(run.errors, f"{run.name}: int8 error per layer on "
                                                 f"{len(run.calib)} calibration images", description.fallback_layers)
    result = QuantizeResult(
        output_dir=run.output, model=run.name, description=description,
        eval=compare(predictions.scores["float"], predictions.scores["quant"], predictions.labels),
        eval_source=run.eval_source,
        calib_source=(str(request.calib) if request.calib is None or request.calib_files is None else
                      f"{request.calib} ({len(request.calib_files)} listed files)") if request.calib else
        "the embedded calibration photos",
        calib_samples=run.calib.used, calib_skipped=len(run.calib.skipped), size_bytes=len(run.quantized),
        float_size_bytes=len(run.float_bytes), latency_ms=latency, threads=request.threads,
        timings_s=run.timer.seconds, fallback=run.fallback, fallback_summary=run.fallback_summary,
        bias_correction=_bias_comparison(run, predictions), qat=run.qat, analysis=tuple(run.errors) if request.analyze else (),
        files=tuple(run.files), notes=tuple(run.reporter.notes), warnings=tuple(run.reporter.warnings))
    write_output_folder(run.output, run.quantized, run.class_list, result, run.files,
                        (request.calib, request.eval, request.model, request.labels))
    return result

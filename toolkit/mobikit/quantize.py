"""Post-training quantization to a TFLite flat buffer, verified against the float model in the same run.

Flow: float Keras model → calibration images → TFLite converter (calibrate, then quantize) → optional bias
correction → optional float fallback of the worst layers under an accuracy and latency budget (`mobikit.analyze`)
→ verification on held-apart images (accuracy, agreement, size, latency) → one output folder written
atomically: model.tflite, labels.txt, model.json (what the phone app reads), report.json and report.md.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from . import __version__, atomic, preprocess
from .calibration import (DEFAULT_SAMPLES, ImageSet, calibration_and_holdout, default_calibration_dir,
                          embedded_images, image_set)
from .errors import MobikitError, UsageError
from .evaluate import (TFLiteClassifier, agreement, class_list_for, keras_predictor, kl_divergence,
                       load_keras_image_model, predict_all, replay, top_k_accuracy)
from .labels import ClassList
from .progress import Reporter

MODES = ("int8", "fp16", "dynamic", "fp32")
IO_TYPES = ("int8", "uint8", "float32")
SCHEMA_VERSION = 1
RECOMMENDED_CALIBRATION = 100  # fewer images than this: recommend a larger, domain-specific set


@dataclass
class QuantizeRequest:
    """Everything `mobikit quantize` takes; None means "the documented default"."""

    arch: str = "v1"
    alpha: float = 1.0
    resolution: int = 224
    weights: str | None = "imagenet"
    model: Path | None = None
    calib: Path | None = None
    calib_samples: int = DEFAULT_SAMPLES
    mode: str = "int8"
    io: str | None = None
    eval: Path | None = None
    eval_samples: int | None = None
    threads: int = 2
    output: Path | None = None
    labels: Path | None = None
    bias_correction: bool | None = None
    max_drop: float | None = None
    min_agreement: float | None = None
    max_fallback_layers: int = 5
    max_latency_ratio: float = 1.15
    strict_int8: bool = False
    analyze: bool = False

    def resolved_io(self) -> str:
        return self.io or ("int8" if self.mode == "int8" else "float32")

    def validate(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"unknown mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.resolved_io() not in IO_TYPES:
            raise UsageError(f"unknown --io {self.io!r}: choose one of {', '.join(IO_TYPES)}")
        if self.mode != "int8" and self.resolved_io() != "float32":
            raise UsageError(f"--io {self.io} needs --mode int8 (mode {self.mode} keeps float inputs and outputs)")
        if self.bias_correction and self.mode != "int8":
            raise UsageError("--bias-correction works on full-integer models only: use it with --mode int8")
        if self.calib_samples < 1 or (self.eval_samples is not None and self.eval_samples < 1):
            raise UsageError("--calib-samples and --eval-samples must be >= 1")
        if self.threads < 1:
            raise UsageError("--threads must be >= 1")
        targeted = self.max_drop is not None or self.min_agreement is not None
        if self.strict_int8 and targeted:
            raise UsageError("--strict-int8 forbids float fallback, which --max-drop / --min-agreement would need: "
                             "use one or the other")
        if (targeted or self.analyze or self.strict_int8) and self.mode != "int8":
            raise UsageError("--max-drop, --min-agreement, --strict-int8 and --analyze work on int8 models: "
                             "use them with --mode int8")
        if self.max_drop is not None and not 0 <= self.max_drop <= 100:
            raise UsageError(f"--max-drop is in top-1 points, between 0 and 100; got {self.max_drop:g}")
        if self.min_agreement is not None and not 0 <= self.min_agreement <= 100:
            raise UsageError(f"--min-agreement is a percentage between 0 and 100; got {self.min_agreement:g}")
        if self.max_fallback_layers < 1 or self.max_latency_ratio <= 0:
            raise UsageError("--max-fallback-layers must be >= 1 and --max-latency-ratio > 0 "
                             "(use --strict-int8 to forbid fallback)")

    @property
    def corrects_bias(self) -> bool:
        return self.mode == "int8" and self.bias_correction is not False


@dataclass
class EvalSummary:
    n: int = 0
    labelled: bool = False
    float_top1: float | None = None
    quant_top1: float | None = None
    float_top5: float | None = None
    quant_top5: float | None = None
    agreement: float | None = None


@dataclass
class QuantizeResult:
    output_dir: Path
    model: str
    mode: str
    size_bytes: int
    float_size_bytes: int
    calib_samples: int
    eval: EvalSummary
    latency_ms: dict
    timings_s: dict
    report: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The `mobikit quantize --json` object."""
        return {"output_dir": str(self.output_dir), "model": self.model, "mode": self.mode,
                "size_bytes": self.size_bytes, "float_size_bytes": self.float_size_bytes,
                "calib_samples": self.calib_samples, "eval": asdict(self.eval), "latency_ms": self.latency_ms,
                "timings_s": self.timings_s}


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


def model_name(request: QuantizeRequest) -> str:
    if request.model is not None:
        return f"{Path(request.model).stem}_{request.mode}"
    return f"mobilenet_{request.arch}_{request.alpha:g}_{request.resolution}_{request.mode}"


def float_model(request: QuantizeRequest):
    """The float Keras model: a saved .keras file, or built from the paper's table."""
    if request.model is not None:
        if not Path(request.model).is_file():
            raise UsageError(f"--model not found: {request.model}")
        return load_keras_image_model(request.model)
    from .models import build_model

    return build_model(request.arch, request.alpha, request.resolution, weights=request.weights)


def representative_dataset(images: ImageSet, reporter: Reporter):
    """The converter's calibration feed: one preprocessed image per step, streamed."""

    def feed():
        for _, image in reporter.track(images.items(), len(images), "calibrating"):
            yield [image[None]]

    return feed


def _converter(keras_model, mode: str):
    from ._tf import tensorflow

    tf = tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    if mode in ("int8", "dynamic", "fp16"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    return converter


def _run_converter(convert, what: str, log_path: Path) -> bytes:
    """Run one conversion quietly; on failure write the converter's full log to `log_path` and raise one line."""
    from ._tf import captured_output

    try:
        with captured_output() as captured:
            return bytes(convert())
    except MobikitError:
        raise
    except Exception as exc:
        text = f"{captured.text}\n{exc}" if str(exc) else captured.text
        try:
            atomic.write_text(log_path, text)
            where = f" (full log: {log_path})"
        except (OSError, UsageError):
            where = ""
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise MobikitError(f"the TFLite converter failed on {what}: {first[:300]}{where}") from None


def convert_float(keras_model, log_path: Path) -> bytes:
    return _run_converter(_converter(keras_model, "fp32").convert, "the float model", log_path)


def convert_int8(keras_model, images: ImageSet, io: str, reporter: Reporter, log_path: Path) -> tuple[bytes, bytes]:
    """Full-integer int8 (builtin int8 ops, per-channel weights): returns (calibrated float model, int8 model)."""
    from ._tf import tensorflow
    from tensorflow.lite.python.convert import mlir_quantize

    tf = tensorflow()
    converter = _converter(keras_model, "int8")
    converter.representative_dataset = representative_dataset(images, reporter)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter._experimental_calibrate_only = True
    calibrated = _run_converter(converter.convert, "calibration", log_path)
    io_type = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[io]
    quantized = _run_converter(
        lambda: mlir_quantize(calibrated, disable_per_channel=False,
                              input_data_type=io_type, output_data_type=io_type),
        "int8 quantization", log_path)
    return calibrated, quantized


def convert_other(keras_model, mode: str, log_path: Path) -> bytes:
    return _run_converter(_converter(keras_model, mode).convert, f"{mode} conversion", log_path)


def tensor_description(detail: dict) -> dict:
    scale, zero_point = detail["quantization"]
    return {"dtype": np.dtype(detail["dtype"]).name, "shape": [int(d) for d in detail["shape"]],
            "scale": float(scale), "zero_point": int(zero_point)}


def _versions() -> dict:
    versions = {"mobikit": __version__}
    for name in ("tensorflow", "keras", "ai-edge-litert", "numpy", "opencv-python"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def model_description(request: QuantizeRequest, name: str, model_bytes: bytes, classifier: TFLiteClassifier,
                      classes: int, calib: ImageSet, calib_source: str, softmax: bool, extra: dict) -> dict:
    """The `model.json` the Android app and every host command read: no number the app needs is left out."""
    interpreter = classifier.interpreter
    output = tensor_description(interpreter.get_output_details()[0])
    output["softmax"] = softmax
    return {
        "schema_version": SCHEMA_VERSION, "name": name, "arch": request.arch if request.model is None else None,
        "alpha": request.alpha if request.model is None else None, "resolution": classifier.resolution,
        "classes": classes, "mode": request.mode, "model_file": "model.tflite", "labels_file": "labels.txt",
        "input": tensor_description(interpreter.get_input_details()[0]), "output": output,
        "preprocessing": preprocess.describe(classifier.resolution),
        "size_bytes": len(model_bytes), "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "calibration": {"source": calib_source, "embedded": request.calib is None,
                        "samples": len(calib) - len(calib.skipped)} if request.mode == "int8"
        else None,
        **extra,
        "versions": _versions(),
    }


def _ends_in_softmax(keras_model) -> bool:
    activation = getattr(keras_model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def _eval_summary(predictions, float_key: str, quant_key: str) -> EvalSummary:
    float_scores, quant_scores = predictions.scores[float_key], predictions.scores[quant_key]
    summary = EvalSummary(n=len(predictions.paths), labelled=predictions.labelled)
    if summary.n == 0:
        return summary
    summary.agreement = agreement(float_scores, quant_scores)
    if summary.labelled:
        summary.float_top1 = top_k_accuracy(float_scores, predictions.labels, 1)
        summary.quant_top1 = top_k_accuracy(quant_scores, predictions.labels, 1)
        summary.float_top5 = top_k_accuracy(float_scores, predictions.labels, 5)
        summary.quant_top5 = top_k_accuracy(quant_scores, predictions.labels, 5)
    return summary


def _choose_eval(request: QuantizeRequest, calib: ImageSet, holdout: ImageSet, resolution: int,
                 reporter: Reporter) -> tuple[ImageSet, str]:
    if request.eval is not None:
        images = image_set(request.eval, request.eval_samples, resolution)
        return images, f"{request.eval} ({len(images)} images)"
    if request.calib is None:
        images = image_set(embedded_images("verification"), request.eval_samples, resolution)
        return images, f"the embedded verification photos ({len(images)}; not used for calibration)"
    if len(holdout):
        images = ImageSet(holdout.paths[: request.eval_samples], resolution, holdout.root)
        reporter.info(f"verifying on the {len(images)} calibration-folder images not used for calibration "
                      "(pass --eval DIR for a separate labelled set)")
        return images, f"calibration-folder images not used for calibration ({len(images)})"
    reporter.warn(f"every image of the calibration folder was used for calibration: verifying on those same "
                  f"{len(calib)} images, which flatters the result; pass --eval DIR for an honest check")
    return calib, f"the calibration images themselves ({len(calib)}; no held-out images)"


def _require_eval_images(request: QuantizeRequest, holdout: ImageSet) -> None:
    """An accuracy target needs images apart from the calibration ones: say so before any slow step."""
    if (request.max_drop is not None or request.min_agreement is not None) and request.eval is None \
            and request.calib is not None and not len(holdout):
        raise UsageError("--max-drop / --min-agreement need evaluation images apart from the calibration ones to "
                         "measure the drop: pass --eval DIR (labelled images), or a --calib folder holding more "
                         "images than --calib-samples")


def _fallback_budget(request: QuantizeRequest, eval_images: ImageSet, calib: ImageSet, class_list: ClassList,
                     reporter: Reporter):
    """The accuracy target of the fallback search, or None when the run stays full-integer (and why)."""
    from .analyze import DEFAULT_MAX_DROP, DEFAULT_MIN_AGREEMENT, FallbackBudget
    from .evaluate import labels_of

    if request.mode != "int8":
        return None
    if request.strict_int8:
        reporter.info("--strict-int8: every layer stays int8 (no float fallback)")
        return None
    targeted = request.max_drop is not None or request.min_agreement is not None
    if eval_images is calib:
        return None
    labelled = all(label is not None for label in labels_of(eval_images, class_list))
    limits = {"max_layers": request.max_fallback_layers, "max_latency_ratio": request.max_latency_ratio}
    if labelled:
        return FallbackBudget(DEFAULT_MAX_DROP if request.max_drop is None else request.max_drop,
                              request.min_agreement, **limits)
    if not targeted:
        return None
    if request.max_drop is not None:
        reporter.info("the evaluation images carry no labels, so top-1 cannot be measured: judging the int8 model "
                      f"by top-1 agreement with float >= {request.min_agreement or DEFAULT_MIN_AGREEMENT:g}% "
                      "(--min-agreement) instead of --max-drop")
    return FallbackBudget(None, request.min_agreement or DEFAULT_MIN_AGREEMENT, **limits)


def _fallback(request, keras_model, calibrated: bytes, plain: bytes, baseline: bytes, budget, layer_ranking,
              calib: ImageSet, eval_images: ImageSet, class_list: ClassList, reporter: Reporter):
    """Run the fallback search; every candidate is bias-corrected exactly as the full-integer model was.

    Returns the search result and the float model's scores on the evaluation images, for verify to reuse.
    """
    from .analyze import fallback_search

    predictions = predict_all(eval_images, {"float": keras_predictor(keras_model)}, class_list, reporter,
                              "fallback search: float predictions")
    labels = predictions.labels if predictions.labelled else []

    def finish(candidate: bytes) -> bytes:
        if not request.corrects_bias:
            return candidate
        from .bias_correction import correct_biases

        return correct_biases(calibrated, candidate, calib, Reporter(), request.threads)[0]

    result = fallback_search(calibrated, plain, baseline, request.resolved_io(), layer_ranking, budget, eval_images,
                             predictions.scores["float"], labels, class_list, finish, request.threads, reporter)
    return result, predictions.scores["float"]


def _announce_fallback(result, reporter: Reporter) -> str:
    """One plain sentence: full-integer or which layers stayed float and why; a warning when the target is missed."""
    steps = result.steps
    chosen = next(s for s in steps if s.layers == result.layers)
    first = steps[0]

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
    if result.met:
        reporter.info(sentence)
    else:
        reporter.warn(f"the fallback search could not reach {result.target} within the budget ({result.stopped}); "
                      f"keeping the best model found: {sentence}")
    return sentence


def render_report(report: dict) -> str:
    """report.md: the verification, then the fallback search when one ran."""
    from .analyze import fallback_markdown
    from .report import render_markdown

    text = render_markdown(report)
    return text + ("\n" + fallback_markdown(report["fallback"]) if report.get("fallback") else "")


def quantize(request: QuantizeRequest, reporter: Reporter | None = None) -> QuantizeResult:
    """Build or load the float model, convert it, verify it, and write the output folder atomically."""
    from .bench import bench_host

    reporter = reporter or Reporter()
    request.validate()
    name = model_name(request)
    output = Path(request.output) if request.output else Path("mobikit-out") / name
    atomic.writable_parent(output)
    log_path = output.parent / f"{output.name}.converter-error.log"
    timer = _Timer()

    with timer.phase("build"):
        keras_model = float_model(request)
    resolution, classes = int(keras_model.input_shape[1]), int(keras_model.output_shape[-1])
    class_list = class_list_for(classes, request.labels)
    calib_dir = Path(request.calib) if request.calib else default_calibration_dir()
    calib_source = str(request.calib) if request.calib else "the embedded calibration photos"
    calib, holdout = calibration_and_holdout(calib_dir, request.calib_samples, resolution)
    _require_eval_images(request, holdout)
    if request.mode == "int8" and len(calib) < RECOMMENDED_CALIBRATION:
        reporter.info(f"calibrating on {len(calib)} images from {calib_dir}: a larger, domain-specific set "
                      "(100–500 images like the ones the model will see, passed with --calib DIR) is recommended")
    eval_images, eval_source = _choose_eval(request, calib, holdout, resolution, reporter)
    budget = _fallback_budget(request, eval_images, calib, class_list, reporter)

    with timer.phase("float_convert"):
        float_bytes = convert_float(keras_model, log_path)
    extra: dict = {"full_integer": request.mode == "int8", "fallback_layers": [], "bias_correction": False}
    with timer.phase("calibrate_convert"):
        if request.mode == "int8":
            calibrated, plain = convert_int8(keras_model, calib, request.resolved_io(), reporter, log_path)
        else:
            plain = float_bytes if request.mode == "fp32" else convert_other(keras_model, request.mode, log_path)
    if calib.skipped_message():
        reporter.warn(calib.skipped_message())
    quantized = plain
    correction_report = None
    if request.corrects_bias:
        from .bias_correction import correct_biases

        with timer.phase("bias_correction"):
            quantized, correction_report = correct_biases(calibrated, plain, calib, reporter, request.threads)
        extra["bias_correction"] = True
    baseline, files, fallback, float_scores = quantized, {}, None, None
    errors: list = []

    def layer_ranking() -> list:
        """Per-layer int8 errors, measured once and only when needed (--analyze, or a fallback search)."""
        if not errors:
            from .analyze import layer_errors

            errors.extend(layer_errors(calibrated, calib, reporter))
        return errors

    if request.analyze:
        with timer.phase("analyze"):
            layer_ranking()
    if budget is not None:
        from .analyze import tradeoff_png

        with timer.phase("fallback_search"):  # includes the per-layer analysis when the search needs it
            fallback, float_scores = _fallback(request, keras_model, calibrated, plain, baseline, budget,
                                               layer_ranking, calib, eval_images, class_list, reporter)
        quantized = fallback.model
        extra.update(full_integer=not fallback.layers, fallback_layers=list(fallback.layers))
        why = _announce_fallback(fallback, reporter)
        if len(fallback.steps) > 1:
            files["fallback.png"] = tradeoff_png(fallback, f"{name}: float fallback search ({budget.describe()})")

    with timer.phase("verify"):
        classifier = TFLiteClassifier(quantized, request.threads)
        models = {"float": keras_predictor(keras_model) if float_scores is None else replay(float_scores),
                  "quant": classifier}
        if correction_report is not None:
            models["plain"] = TFLiteClassifier(plain, request.threads)
            if quantized != baseline:
                models["corrected"] = TFLiteClassifier(baseline, request.threads)
        predictions = predict_all(eval_images, models, class_list, reporter, "verifying")
        summary = _eval_summary(predictions, "float", "quant")
        latency = {}
        with tempfile.TemporaryDirectory() as scratch:
            for key, blob in (("float", float_bytes), ("quant", quantized)):
                path = Path(scratch) / f"{key}.tflite"
                path.write_bytes(blob)
                latency[key] = bench_host(path, request.threads, "xnnpack", warmup=5, runs=50,
                                          min_seconds=1.0).median_ms

    description = model_description(request, name, quantized, classifier, classes, calib, calib_source,
                                    _ends_in_softmax(keras_model), extra)
    report = {
        "model": name, "mode": request.mode, "io": request.resolved_io(), "description": description,
        "calibration": {"source": calib_source, "samples": len(calib) - len(calib.skipped),
                        "skipped": len(calib.skipped)},
        "eval": {**asdict(summary), "source": eval_source},
        "size_bytes": {"float": len(float_bytes), "quant": len(quantized)},
        "latency_ms": {**latency, "threads": request.threads, "delegate": "xnnpack", "statistic": "median"},
        "timings_s": timer.seconds,
        "full_integer": extra["full_integer"], "fallback_layers": extra["fallback_layers"],
        "fallback": {**fallback.to_json(), "summary": why, "plot": "fallback.png" if "fallback.png" in files else None}
        if fallback else None,
        "notes": list(reporter.notes), "warnings": list(reporter.warnings),
    }
    if correction_report is not None:
        report["bias_correction"] = _correction_comparison(predictions, correction_report, plain, request.threads)
    if request.analyze:
        from .analyze import analysis_csv, analysis_entry, analysis_png

        files["analysis.csv"] = analysis_csv(errors).encode()
        files["analysis.png"] = analysis_png(errors, f"{name}: int8 error per layer on {len(calib)} calibration "
                                             "images", extra["fallback_layers"])
        report["analysis"] = analysis_entry(errors)
    write_output(output, quantized, class_list, description, report, files)
    return QuantizeResult(output, name, request.mode, len(quantized), len(float_bytes),
                          len(calib) - len(calib.skipped), summary, latency, timer.seconds, report)


def _correction_comparison(predictions, correction_report: dict, plain: bytes, threads: int) -> dict:
    """Plain int8 next to bias-corrected int8 (full-integer, before any fallback): agreement, accuracy, KL."""
    key = "corrected" if "corrected" in predictions.scores else "quant"
    plain_summary = _eval_summary(predictions, "float", "plain")
    corrected = _eval_summary(predictions, "float", key)
    float_scores = predictions.scores["float"]
    return {
        **correction_report,
        "plain": {**asdict(plain_summary), "kl": kl_divergence(float_scores, predictions.scores["plain"])
                  if len(float_scores) else None},
        "corrected": {**asdict(corrected), "kl": kl_divergence(float_scores, predictions.scores[key])
                      if len(float_scores) else None},
    }


def write_output(output: Path, model_bytes: bytes, class_list: ClassList, description: dict, report: dict,
                 files: dict[str, bytes] | None = None) -> None:
    """Write the output folder as one atomic step: it replaces an earlier folder only when complete."""
    with atomic.atomic_folder(output) as folder:
        for file_name, data in (files or {}).items():
            atomic.write_bytes(folder / file_name, data)
        atomic.write_bytes(folder / "model.tflite", model_bytes)
        atomic.write_text(folder / "labels.txt", "\n".join(class_list.names) + "\n")
        atomic.write_text(folder / "model.json", json.dumps(description, indent=2) + "\n")
        atomic.write_text(folder / "report.json", json.dumps(report, indent=2, default=str) + "\n")
        atomic.write_text(folder / "report.md", render_report(report))

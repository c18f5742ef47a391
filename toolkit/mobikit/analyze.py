"""Per-layer int8 error analysis and accuracy-targeted float fallback.

Analysis: TFLite's QuantizationDebugger runs a numeric-verify build of the calibrated model on the calibration
images; every quantized op's output is compared with the same op computed in float on the same (dequantized)
inputs, so each layer's error is its own, not the accumulated error of the layers before it. RMSE / scale (error
in units of the tensor's quantization step) ranks the layers.

Fallback: the layers are ranked on the calibration images only, so the eval labels decide how many layers stay
float, never which ones (no overfitting to the eval set). The worst layer is kept in float, then the next, one at
a time, each candidate quantized from the same calibrated model with `mlir_quantize(denylisted_nodes=…)` (what
`QuantizationDebugger.get_nondebug_quantized_model` calls) and passed through the same finishing step as the plain
model (bias correction by default), until the accuracy target is met or the layer or latency budget is spent.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import atomic
from .calibration import ImageSet
from .tensor_names import keras_layer_name
from .errors import MobikitError
from .evaluate import TFLiteClassifier, agreement, predict_all, top_k_accuracy
from .labels import ClassList
from .progress import Reporter

# Ops worth keeping in float: the ones doing arithmetic on weights or sums. Reshape, softmax, pad and friends only
# move or renormalise values; keeping them in float adds conversions and saves no error.
FALLBACK_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD")
DEFAULT_MAX_DROP = 0.4  # top-1 points, with labelled eval images
DEFAULT_MIN_AGREEMENT = 97.0  # %, unlabelled eval images: bias-corrected int8 reaches 92–97 % on the benchmarks
DEFAULT_MAX_LAYERS = 5
DEFAULT_MAX_LATENCY_RATIO = 1.15
CSV_COLUMNS = ("order", "layer", "op", "rmse_scale", "mean_error", "max_abs_error", "scale", "zero_point",
               "tensor")


@dataclass
class LayerError:
    """One quantized tensor's error on the calibration images, in network order."""

    order: int
    layer: str
    op: str
    rmse_scale: float
    mean_error: float
    max_abs_error: float
    scale: float
    zero_point: int
    tensor: str


def _quantize(calibrated: bytes, io: str, denylisted_nodes: list[str] | None = None,
              numeric_verify: bool = False) -> bytes:
    from tensorflow.lite.python.convert import mlir_quantize

    from ._tf import captured_output, tensorflow

    tf = tensorflow()
    io_type = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[io]
    try:
        with captured_output():
            return bytes(mlir_quantize(calibrated, disable_per_channel=False, input_data_type=io_type,
                                       output_data_type=io_type, enable_numeric_verify=numeric_verify,
                                       denylisted_nodes=denylisted_nodes or None))
    except Exception as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise MobikitError(f"int8 quantization failed: {first[:300]}") from None


def layer_errors(calibrated: bytes, calib: ImageSet, reporter: Reporter) -> list[LayerError]:
    """Run the QuantizationDebugger over the calibration images, streamed; one row per quantized tensor."""
    import warnings

    from tensorflow.lite.tools.optimize.debugging.python import debugger

    from ._tf import captured_output

    debug_model = _quantize(calibrated, "float32", numeric_verify=True)

    def dataset():
        for _, image in reporter.track(calib.items(), len(calib), "analyzing per-layer error"):
            yield [image[None]]

    with warnings.catch_warnings(), captured_output():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice: the debugger needs it
        quant_debugger = debugger.QuantizationDebugger(quant_debug_model_content=debug_model, debug_dataset=dataset)
        quant_debugger.run()
    dump = io.StringIO()
    quant_debugger.layer_statistics_dump(dump)
    rows = []
    for order, row in enumerate(csv.DictReader(io.StringIO(dump.getvalue()))):
        scale = float(row["scale"])
        rmse = math.sqrt(float(row["mean_squared_error"]))
        # a graph output ('StatefulPartitionedCall_1:0') has no layer scope: name it by its op
        name = keras_layer_name(row["tensor_name"]) if "/" in row["tensor_name"] else row["op_name"].lower()
        rows.append(LayerError(order, name, row["op_name"],
                               rmse / scale if scale else float("nan"), float(row["mean_error"]),
                               float(row["max_abs_error"]), scale, int(row["zero_point"]), row["tensor_name"]))
    if not rows:
        raise MobikitError("the quantization debugger found no quantized layer to analyze")
    return rows


def analysis_csv(errors: list[LayerError]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for error in errors:
        row = asdict(error)
        row.update({key: f"{row[key]:.6g}" for key in ("rmse_scale", "mean_error", "max_abs_error", "scale")})
        writer.writerow(row)
    return buffer.getvalue()


def _png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def analysis_png(errors: list[LayerError], title: str, fallback: list[str] = ()) -> bytes:
    """Bar chart of RMSE/scale per tensor in network order; layers kept in float are drawn in red."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(max(8.0, 0.16 * len(errors) + 2), 4.5))
    colors = ["tab:red" if e.layer in fallback else "tab:blue" for e in errors]
    axes.bar(range(len(errors)), [e.rmse_scale for e in errors], color=colors)
    axes.set_xticks(range(len(errors)), [e.layer for e in errors], rotation=90, fontsize=6)
    axes.set_ylabel("RMSE / scale (quantization steps)")
    axes.set_title(title + (" — red: kept in float" if fallback else ""))
    axes.set_xlim(-1, len(errors))
    figure.tight_layout()
    return _png(figure)


def write_analysis(folder: Path, errors: list[LayerError], title: str, fallback: list[str] = ()) -> dict:
    """analysis.csv and analysis.png in `folder`, each written atomically; returns the report entry."""
    atomic.write_text(folder / "analysis.csv", analysis_csv(errors))
    atomic.write_bytes(folder / "analysis.png", analysis_png(errors, title, fallback))
    return analysis_entry(errors)


def worst_layers(errors: list[LayerError], count: int = 10) -> list[LayerError]:
    return sorted(errors, key=lambda e: -np.nan_to_num(e.rmse_scale))[:count]


def analysis_entry(errors: list[LayerError]) -> dict:
    """The report.json "analysis" object: the files and the worst layers."""
    worst = worst_layers(errors)
    return {"csv": "analysis.csv", "plot": "analysis.png", "tensors": len(errors),
            "worst": [{"layer": e.layer, "op": e.op, "rmse_scale": e.rmse_scale} for e in worst]}


# ---------------------------------------------------------------------------------------------- fallback search


@dataclass
class FallbackBudget:
    """The accuracy target and the cost the search may pay for it."""

    max_drop: float | None = None  # top-1 points below float, with labels
    min_agreement: float | None = None  # % top-1 agreement with float
    max_layers: int = DEFAULT_MAX_LAYERS
    max_latency_ratio: float = DEFAULT_MAX_LATENCY_RATIO

    def describe(self) -> str:
        parts = []
        if self.max_drop is not None:
            parts.append(f"top-1 within {self.max_drop:g} points of float")
        if self.min_agreement is not None:
            parts.append(f"agreement with float >= {self.min_agreement:g}%")
        return " and ".join(parts)


@dataclass
class FallbackStep:
    layers: list[str]
    top1: float | None
    agreement: float
    latency_ms: float
    latency_ratio: float
    size_bytes: int
    met: bool


@dataclass
class FallbackResult:
    model: bytes
    layers: list[str]
    steps: list[FallbackStep]
    met: bool
    stopped: str
    float_top1: float | None
    target: str
    ranking: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"target": self.target, "met": self.met, "stopped": self.stopped, "float_top1": self.float_top1,
                "layers": self.layers, "ranking": self.ranking, "steps": [asdict(s) for s in self.steps]}


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


def _latency(model: bytes, threads: int) -> float:
    from .bench import bench_host

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.tflite"
        path.write_bytes(model)
        return bench_host(path, threads, "xnnpack", warmup=5, runs=50, min_seconds=1.0).median_ms


def fallback_search(calibrated: bytes, plain: bytes, baseline: bytes, io: str,
                    layer_ranking: Callable[[], list[LayerError]],
                    budget: FallbackBudget, eval_images: ImageSet, float_scores: np.ndarray, labels: list[int],
                    class_list: ClassList, finish: Callable[[bytes], bytes], threads: int,
                    reporter: Reporter) -> FallbackResult:
    """Keep the worst layers in float one at a time until `budget`'s target is met or its cost would be exceeded.

    `baseline` is the full-integer model the run would ship (`finish(plain)`); every candidate goes through
    `finish` too, so the comparison is like for like. `layer_ranking` (the per-layer errors) is called only when
    the baseline misses the target: the debugger run costs as much as a conversion. Returns the first candidate
    meeting the target, else the most accurate one found (the baseline when no layer helped), with every step
    measured.
    """
    labelled = bool(labels)
    float_top1 = top_k_accuracy(float_scores, labels, 1) if labelled else None

    def measure(model: bytes, names: list[str], reference_ms: float | None, description: str) -> FallbackStep:
        scores = predict_all(eval_images, {"m": TFLiteClassifier(model, threads)}, class_list, None).scores["m"]
        top1 = top_k_accuracy(scores, labels, 1) if labelled else None
        agree = agreement(float_scores, scores)
        latency = _latency(model, threads)
        ok = ((budget.max_drop is None or 100 * (float_top1 - top1) <= budget.max_drop + 1e-9)
              and (budget.min_agreement is None or 100 * agree >= budget.min_agreement - 1e-9))
        step = FallbackStep(list(names), top1, agree, latency, latency / (reference_ms or latency), len(model), ok)
        reporter.info(f"fallback {description}: " + (f"top-1 {100 * top1:.1f}% (float {100 * float_top1:.1f}%), "
                                                     if labelled else "")
                      + f"agreement {100 * agree:.1f}%, {latency:.2f} ms ({step.latency_ratio:.2f}× int8)")
        return step

    steps = [measure(baseline, [], None, "full-integer int8")]
    models = [baseline]
    ranking: list[LayerError] = []
    stopped = "target met by the full-integer model"
    if not steps[0].met:
        ranking = ranked_layers(layer_ranking())
        names_of = _output_names(plain)
        stopped = f"all {len(ranking)} candidate layers tried"
        for candidate in ranking:
            layers = steps[-1].layers + [candidate.layer]
            if len(layers) > budget.max_layers:
                stopped = f"--max-fallback-layers {budget.max_layers} reached"
                break
            denylist = [name for layer in layers for name in names_of.get(layer, [])]
            quantized = _quantize(calibrated, io, denylist)
            if quantized == plain:
                reporter.warn(f"keeping {candidate.layer} in float did not change the model; skipped")
                continue
            model = finish(quantized)
            step = measure(model, layers, steps[0].latency_ms, f"+{candidate.layer} in float")
            if step.latency_ratio > budget.max_latency_ratio:
                steps.append(step)
                models.append(None)
                stopped = (f"keeping {candidate.layer} in float would cost {step.latency_ratio:.2f}× int8 latency "
                           f"(--max-latency-ratio {budget.max_latency_ratio:g})")
                break
            steps.append(step)
            models.append(model)
            if step.met:
                stopped = f"target met with {len(layers)} layer(s) in float"
                break
    best = _best(steps, models)
    return FallbackResult(models[best], steps[best].layers, steps, steps[best].met, stopped, float_top1,
                          budget.describe(),
                          [{"layer": e.layer, "op": e.op, "rmse_scale": e.rmse_scale} for e in ranking])


def _best(steps: list[FallbackStep], models: list[bytes | None]) -> int:
    """The first step meeting the target; else the most accurate within budget, fewer float layers on ties."""
    usable = [i for i, model in enumerate(models) if model is not None]
    met = [i for i in usable if steps[i].met]
    if met:
        return met[0]
    return max(usable, key=lambda i: ((steps[i].top1 or 0.0), steps[i].agreement, -len(steps[i].layers)))


def tradeoff_png(result: FallbackResult, title: str) -> bytes:
    """The search's accuracy / latency trade-off: one point per step."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.5, 4))
    x = [len(s.layers) for s in result.steps]
    if result.float_top1 is not None:
        axes.plot(x, [100 * (s.top1 or 0) for s in result.steps], "o-", label="int8 top-1 %")
        axes.axhline(100 * result.float_top1, color="gray", linestyle="--", label="float top-1 %")
    axes.plot(x, [100 * s.agreement for s in result.steps], "s-", label="agreement with float %")
    axes.set_xlabel("layers kept in float")
    axes.set_ylabel("%")
    axes.set_xticks(x)
    ratio_axes = axes.twinx()
    ratio_axes.plot(x, [s.latency_ratio for s in result.steps], "^:", color="tab:red", label="latency / int8")
    ratio_axes.set_ylabel("latency / full-integer int8")
    lines = axes.get_legend_handles_labels()
    more = ratio_axes.get_legend_handles_labels()
    axes.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="lower right")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return _png(figure)


def fallback_markdown(fallback: dict) -> str:
    """report.md section: every step of the search, and the trade-off chart."""
    pct = lambda v: "–" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    lines = ["## Float fallback search", "",
             f"Target: {fallback['target']}. Result: " + ("met" if fallback["met"] else "**not met**")
             + f" ({fallback['stopped']}). Layers kept in float: "
             + (", ".join(fallback["layers"]) if fallback["layers"] else "none (full-integer)") + ".", "",
             "| layers in float | top-1 | agreement | latency | × int8 | size | meets target |",
             "|---|---|---|---|---|---|---|"]
    for step in fallback["steps"]:
        lines.append(f"| {', '.join(step['layers']) or '– (full-integer)'} | {pct(step['top1'])} | "
                     f"{pct(step['agreement'])} | {step['latency_ms']:.2f} ms | {step['latency_ratio']:.2f}× | "
                     f"{step['size_bytes'] / 1e6:.2f} MB | {'yes' if step['met'] else 'no'} |")
    if fallback.get("plot"):
        lines += ["", f"![accuracy / latency trade-off]({fallback['plot']})"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- mobikit analyze


@dataclass
class AnalyzeRequest:
    """`mobikit analyze`: a quantize output folder, or a model to build (arch/alpha/resolution) or load (--model)."""

    folder: Path | None = None
    arch: str | None = None
    alpha: float = 1.0
    resolution: int = 224
    weights: str | None = "imagenet"
    model: Path | None = None
    calib: Path | None = None
    calib_samples: int | None = None
    output: Path | None = None


@dataclass
class AnalyzeResult:
    output_dir: Path
    model: str
    calib_samples: int
    errors: list[LayerError]
    seconds: float

    def to_json(self) -> dict:
        return {"output_dir": str(self.output_dir), "model": self.model, "calib_samples": self.calib_samples,
                "files": {"csv": str(self.output_dir / "analysis.csv"), "plot": str(self.output_dir / "analysis.png")},
                "seconds": round(self.seconds, 3), "worst": analysis_entry(self.errors)["worst"],
                "layers": [asdict(e) for e in self.errors]}


def _folder_request(request: AnalyzeRequest) -> tuple[dict, dict]:
    """What an output folder records about its model: (model.json, report.json or {})."""
    import json

    folder = Path(request.folder)
    description_path = folder / "model.json"
    if not description_path.is_file():
        from .errors import UsageError

        raise UsageError(f"{folder} is not a quantize output folder (no model.json)")
    try:
        description = json.loads(description_path.read_text())
        report_path = folder / "report.json"
        report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise MobikitError(f"cannot read {folder}: {exc}") from None
    return description, report


def analyze(request: AnalyzeRequest, reporter: Reporter | None = None) -> AnalyzeResult:
    """Calibrate the float model as quantize does, measure every layer's int8 error, write the CSV and chart."""
    import json
    import time

    from .calibration import calibration_and_holdout, default_calibration_dir
    from .errors import UsageError
    from .quantize import QuantizeRequest, convert_int8, float_model, model_name, render_report

    reporter = reporter or Reporter()
    start = time.perf_counter()
    description, report, fallback = None, {}, []
    quantize_request = QuantizeRequest(weights=request.weights, model=request.model)
    if request.folder is not None:
        description, report = _folder_request(request)
        if description.get("mode") != "int8":
            raise UsageError(f"{request.folder} holds a {description.get('mode')} model: analyze needs an int8 one")
        if description.get("arch") is None and request.model is None:
            raise UsageError(f"{request.folder} was quantized from a saved .keras model, which the folder does not "
                             "hold: pass it with --model PATH.keras")
        if request.model is None:
            quantize_request.arch = description["arch"]
            quantize_request.alpha = description["alpha"]
            quantize_request.resolution = description["resolution"]
        calibration = description.get("calibration") or {}
        recorded = None if calibration.get("embedded", True) else calibration.get("source")
        calib_dir = Path(request.calib or recorded or default_calibration_dir())
        samples = request.calib_samples or calibration.get("samples")
        output = Path(request.folder)
        fallback = description.get("fallback_layers") or []
        name = description.get("name", output.name)
    else:
        if request.arch is None and request.model is None:
            raise UsageError("analyze needs an output folder, --arch (with --alpha/--resolution) or --model PATH.keras")
        quantize_request.arch = request.arch or "v1"
        quantize_request.alpha, quantize_request.resolution = request.alpha, request.resolution
        calib_dir = Path(request.calib) if request.calib else default_calibration_dir()
        samples = request.calib_samples
        name = model_name(quantize_request).removesuffix("_int8")
        output = Path(request.output) if request.output else Path("mobikit-out") / f"{name}_analysis"
    if samples is not None and samples < 1:
        raise UsageError("--calib-samples must be >= 1")
    atomic.writable_parent(output / "analysis.csv")
    keras_model = float_model(quantize_request)
    resolution = int(keras_model.input_shape[1])
    if description is not None and description.get("resolution") not in (None, resolution):
        raise UsageError(f"--model takes {resolution}×{resolution} images but {request.folder} holds a "
                         f"{description['resolution']}×{description['resolution']} model")
    calib, _ = calibration_and_holdout(calib_dir, samples or 200, resolution)
    calibrated, _ = convert_int8(keras_model, calib, "int8", reporter, output.parent / f"{output.name}.converter-error.log")
    errors = layer_errors(calibrated, calib, reporter)
    entry = write_analysis(output, errors, f"{name}: int8 error per layer on {len(calib)} calibration images",
                           fallback)
    if report:
        report["analysis"] = entry
        atomic.write_text(output / "report.json", json.dumps(report, indent=2, default=str) + "\n")
        atomic.write_text(output / "report.md", render_report(report))
    return AnalyzeResult(output, name, len(calib) - len(calib.skipped), errors, time.perf_counter() - start)

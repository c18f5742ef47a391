"""The quantize targets and the README's performance table, measured in one run.

For each model: float TFLite / a bare TFLiteConverter int8 run / `mobikit quantize` (defaults) / Google's QAT
reference where one exists — top-1, top-5, top-1 agreement with float, size, host latency (median and p90 at 1 and
2 threads) — then the targets as ratios: mobikit top-1 within 0.4 points of float and at least the reference's;
size ≤ 0.30× float; latency ≤ 0.75× float (2 threads) and ≤ the reference's; calibrate+convert ≤ 1.25× the bare run.

    python benchmarks/quantize_targets.py [v1-0.25-128 v1-0.75-224 v2-1.0-224]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from common import REFERENCE_MODELS, reference_classifier, run_models

from mobikit.runtime import captured_output
from mobikit.bench import bench_host
from mobikit.calibration import image_set
from mobikit.evaluate import TFLiteClassifier, agreement, keras_predictor, predict_all, top_k_accuracy
from mobikit.labels import imagenet
from mobikit.models import build_model
from mobikit.quantize import QuantizeRequest, convert_float, quantize

DEFAULT_MODELS = ("v1-0.25-128", "v1-0.75-224", "v2-1.0-224")


def bare_int8(keras_model, calib_dir: Path, resolution: int) -> tuple[bytes, float]:
    """What a user writes by hand: the converter fed the same images, decoded one by one. Returns (model, seconds)."""
    import tensorflow as tf

    from mobikit.calibration import find_images, read_image
    from mobikit.preprocess import preprocess

    def feed():
        for path in find_images(calib_dir):
            yield [preprocess(read_image(path), resolution)[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = feed
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    with captured_output():  # the converter prints its SavedModel signature on stdout
        start = time.perf_counter()
        model = converter.convert()
        seconds = time.perf_counter() - start
    return model, seconds


def latency(path: Path) -> dict:
    return {threads: bench_host(path, threads, "xnnpack", warmup=10, runs=100, min_seconds=2.0)
            for threads in (1, 2)}


def measure(name: str, calib_dir: Path, eval_dir: Path, scratch: Path) -> tuple[list[str], list[str]]:
    arch, alpha, resolution = name.split("-")
    alpha, resolution = float(alpha), int(resolution)
    keras_model = build_model(arch, alpha, resolution)
    bare, bare_seconds = bare_int8(keras_model, calib_dir, resolution)
    result = quantize(QuantizeRequest(arch, alpha, resolution, calib=calib_dir, eval=eval_dir,
                                      output=scratch / name))
    files = {"float": scratch / f"{name}-float.tflite", "bare int8": scratch / f"{name}-bare.tflite",
             "mobikit int8": scratch / name / "model.tflite"}
    files["float"].write_bytes(convert_float(keras_model, scratch / "float.log"))
    files["bare int8"].write_bytes(bare)
    models = {"float": keras_predictor(keras_model), "bare int8": TFLiteClassifier(bare),
              "mobikit int8": TFLiteClassifier(files["mobikit int8"])}
    reference = REFERENCE_MODELS.get((arch, alpha, resolution))
    if reference:
        files["reference (QAT)"] = reference
        models["reference (QAT)"] = reference_classifier(reference)
    predictions = predict_all(image_set(eval_dir, None, resolution), models, imagenet())
    labels = predictions.labels
    rows, stats = [], {}
    for key, scores in predictions.scores.items():
        timing = latency(files[key])
        stats[key] = {"top1": top_k_accuracy(scores, labels, 1), "size": files[key].stat().st_size,
                      "latency": timing[2].median_ms}
        rows.append(f"| {name} | {key} | {100 * stats[key]['top1']:.1f} | {100 * top_k_accuracy(scores, labels, 5):.1f} "
                    f"| {100 * agreement(predictions.scores['float'], scores):.1f} | {stats[key]['size'] / 1e6:.2f} "
                    f"| {timing[1].median_ms:.2f} / {timing[1].p90_ms:.2f} | {timing[2].median_ms:.2f} / "
                    f"{timing[2].p90_ms:.2f} |")
    ours, flt = stats["mobikit int8"], stats["float"]
    ref = stats.get("reference (QAT)")
    convert_ratio = result.timings_s["calibrate_convert"] / bare_seconds
    checks = [
        f"top-1 {100 * ours['top1']:.1f} vs float {100 * flt['top1']:.1f}: drop "
        f"{100 * (flt['top1'] - ours['top1']):+.1f} points (target ≤ 0.4) "
        + ("✓" if flt["top1"] - ours["top1"] <= 0.004 + 1e-9 else "✗"),
        f"size {ours['size'] / flt['size']:.2f}× float (target ≤ 0.30) " + ("✓" if ours["size"] <= 0.30 * flt["size"] else "✗"),
        f"latency {ours['latency'] / flt['latency']:.2f}× float at 2 threads (target ≤ 0.75) "
        + ("✓" if ours["latency"] <= 0.75 * flt["latency"] else "✗"),
        f"calibrate+convert {result.timings_s['calibrate_convert']:.1f} s vs bare {bare_seconds:.1f} s = "
        f"{convert_ratio:.2f}× (target ≤ 1.25) " + ("✓" if convert_ratio <= 1.25 else "✗"),
    ]
    if ref:
        bar = min(ref["top1"], flt["top1"])  # a QAT reference above our own float model: matching float is the bar
        checks += [
            f"top-1 vs reference {100 * ref['top1']:.1f} (bar {100 * bar:.1f}): {100 * (ours['top1'] - bar):+.1f} "
            "points (target ≥ 0) " + ("✓" if ours["top1"] >= bar else "✗"),
            f"latency {ours['latency'] / ref['latency']:.2f}× reference (target ≤ 1.0) "
            + ("✓" if ours["latency"] <= ref["latency"] else "✗"),
        ]
    return rows, [f"- **{name}**: " + "; ".join(checks)]


def main(names: list[str]) -> str:
    return run_models(
        names, measure,
        "Calibration: first 200 of imagenet-dev (sorted); evaluation: the other 300 (one image = 0.33 points). "
        "Latency: host LiteRT, XNNPACK, median / p90 in ms.",
        "| model | variant | top-1 % | top-5 % | agreement % | size MB | 1 thread ms | 2 threads ms |",
        "quantize_targets.md")

if __name__ == "__main__":
    np.random.seed(0)
    print(main(sys.argv[1:] or list(DEFAULT_MODELS)))

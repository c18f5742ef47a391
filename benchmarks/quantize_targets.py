"""The quantize, bias-correction and fallback targets, measured in one run per model by the call the CLI makes.

For each model, `mobikit.quantize` runs exactly as

    mobikit quantize --arch A --alpha α --resolution R --calib CALIB --calib-samples 200 --eval EVAL

runs (defaults: bias correction on; labelled evaluation images, so the float-fallback search judges the model
against `--max-drop 0.4`), and its result gives the mobikit rows: top-1 / top-5 / agreement of the written model,
plain vs bias-corrected int8 (agreement, top-1, KL), every fallback step and the phase timings. Beside it, on the same
300 evaluation images: the float Keras model, what a user writes by hand (a bare `TFLiteConverter` int8 run on the
same images) and Google's QAT reference where one exists; host latency of every file at 1 and 2 threads; and the wall
time of `mobikit analyze` on the output folder. Writes benchmarks/results/quantize_targets.md.

    python benchmarks/quantize_targets.py [v1-0.25-128 v1-0.75-224 v2-1.0-224]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from common import CALIBRATION_COUNT, REFERENCE_MODELS, imagenet_split, machine, reference_classifier, write_result

import mobikit
from mobikit.convert import convert
from mobikit.formatting import pct
from mobikit.images import find_images, image_set, read_image
from mobikit.inference import TFLiteClassifier, keras_predictor, predict_all
from mobikit.labels import imagenet
from mobikit.latency import bench_host
from mobikit.metrics import agreement, top_k_accuracy
from mobikit.models import build_model
from mobikit.preprocess import preprocess
from mobikit.runtime import captured_output

DEFAULT_MODELS = ("v1-0.25-128", "v1-0.75-224", "v2-1.0-224")
TARGET_AGREEMENT = {"v1-0.25-128": 0.92, "v1-0.75-224": 0.96, "v2-1.0-224": 0.97}  # issue 9, bias correction
MAX_DROP = 0.004  # issue 3: mobikit top-1 within 0.4 points of float
SIZE_RATIO, LATENCY_RATIO, CONVERT_RATIO = 0.30, 0.75, 1.25


def command(arch: str, alpha: float, resolution: int) -> str:
    return (f"mobikit quantize --arch {arch} --alpha {alpha:g} --resolution {resolution} --calib CALIB "
            f"--calib-samples {CALIBRATION_COUNT} --eval EVAL")


def bare_int8(keras_model, calib_dir: Path, resolution: int) -> tuple[bytes, float]:
    """What a user writes by hand: the converter fed the same images, decoded one by one. Returns (model, seconds)."""
    import tensorflow as tf

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


def measure(name: str, calib_dir: Path, eval_dir: Path, scratch: Path) -> dict:
    arch, alpha, resolution = name.split("-")
    alpha, resolution = float(alpha), int(resolution)
    result = mobikit.quantize(arch=arch, alpha=alpha, resolution=resolution, calib=calib_dir,
                              calib_samples=CALIBRATION_COUNT, eval=eval_dir, output=scratch / name)
    start = time.perf_counter()
    mobikit.analyze(folder=result.output_dir)
    analyze_s = time.perf_counter() - start
    keras_model = build_model(arch, alpha, resolution)
    bare, bare_s = bare_int8(keras_model, calib_dir, resolution)
    files = {"float": scratch / f"{name}-float.tflite", "bare int8": scratch / f"{name}-bare.tflite",
             "mobikit int8": result.output_dir / "model.tflite"}
    files["float"].write_bytes(convert(keras_model, "fp32"))
    files["bare int8"].write_bytes(bare)
    models = {"float": keras_predictor(keras_model), "bare int8": TFLiteClassifier(bare)}
    reference = REFERENCE_MODELS.get((arch, alpha, resolution))
    if reference:
        files["reference (QAT)"], models["reference (QAT)"] = reference, reference_classifier(reference)
    predictions = predict_all(image_set(eval_dir, None, resolution), models, imagenet())
    labels, float_scores = predictions.labels, predictions.scores["float"]
    accuracy = {key: (top_k_accuracy(scores, labels, 1), top_k_accuracy(scores, labels, 5),
                      agreement(float_scores, scores)) for key, scores in predictions.scores.items()}
    accuracy["mobikit int8"] = (result.eval.quant_top1, result.eval.quant_top5, result.eval.agreement)
    return {"name": name, "result": result, "accuracy": accuracy, "latency": {k: latency(p) for k, p in files.items()},
            "size": {k: p.stat().st_size for k, p in files.items()}, "bare_s": bare_s, "analyze_s": analyze_s,
            "command": command(arch, alpha, resolution)}


def performance_rows(m: dict) -> list[str]:
    rows = []
    for key in ("float", "bare int8", "mobikit int8", "reference (QAT)"):
        if key not in m["accuracy"]:
            continue
        top1, top5, agree = m["accuracy"][key]
        one, two = m["latency"][key][1], m["latency"][key][2]
        rows.append(f"| {m['name']} | {key} | {pct(top1)} | {pct(top5)} | {pct(agree)} | {m['size'][key] / 1e6:.2f} "
                    f"| {one.median_ms:.2f} / {one.p90_ms:.2f} | {two.median_ms:.2f} / {two.p90_ms:.2f} |")
    return rows


def performance_checks(m: dict) -> str:
    result, accuracy = m["result"], m["accuracy"]
    ours, flt = accuracy["mobikit int8"][0], accuracy["float"][0]
    size = m["size"]["mobikit int8"] / m["size"]["float"]
    speed = m["latency"]["mobikit int8"][2].median_ms / m["latency"]["float"][2].median_ms
    convert_ratio = result.timings_s["calibrate_convert"] / m["bare_s"]
    checks = [f"top-1 {100 * ours:.1f} vs float {100 * flt:.1f}: drop {100 * (flt - ours):+.1f} points (target ≤ 0.4) "
              + mark(flt - ours <= MAX_DROP + 1e-9),
              f"size {size:.2f}× float (target ≤ {SIZE_RATIO}) " + mark(size <= SIZE_RATIO),
              f"latency {speed:.2f}× float at 2 threads (target ≤ {LATENCY_RATIO}) " + mark(speed <= LATENCY_RATIO),
              f"calibrate+convert {result.timings_s['calibrate_convert']:.1f} s vs bare {m['bare_s']:.1f} s = "
              f"{convert_ratio:.2f}× (target ≤ {CONVERT_RATIO}) " + mark(convert_ratio <= CONVERT_RATIO)]
    if "reference (QAT)" in accuracy:
        ref = accuracy["reference (QAT)"][0]
        bar = min(ref, flt)  # a QAT reference above our own float model: matching float is the bar
        ref_speed = m["latency"]["mobikit int8"][2].median_ms / m["latency"]["reference (QAT)"][2].median_ms
        checks += [f"top-1 vs reference {100 * ref:.1f} (bar {100 * bar:.1f}): {100 * (ours - bar):+.1f} points "
                   "(target ≥ 0) " + mark(ours >= bar),
                   f"latency {ref_speed:.2f}× reference (target ≤ 1.0) " + mark(ref_speed <= 1.0)]
    return f"- **{m['name']}**: " + "; ".join(checks)


def correction_row(m: dict) -> str:
    result = m["result"]
    comparison, timings = result.bias_correction, result.timings_s
    plain, corrected = comparison.plain, comparison.corrected
    target = TARGET_AGREEMENT[m["name"]]
    ratio = timings["bias_correction"] / timings["calibrate_convert"]
    return (f"| {m['name']} | {pct(plain.quant_top1)} → {pct(corrected.quant_top1)} (float {pct(plain.float_top1)}) "
            f"| {pct(plain.agreement)} → {pct(corrected.agreement)} (target ≥ {100 * target:.0f}) "
            f"{mark(corrected.agreement >= target - 1e-9)} | {comparison.plain_kl:.4f} → {comparison.corrected_kl:.4f} "
            f"| {len(comparison.report.layers)} | {timings['bias_correction']:.1f} s = {ratio:.2f}× calibrate+convert "
            f"{mark(ratio <= 1)} |")


def fallback_row(m: dict) -> str:
    result = m["result"]
    fallback, first = result.fallback, result.fallback.steps[0]
    chosen = fallback.chosen()
    return (f"| {m['name']} | {fallback.target} | {'met' if fallback.met else 'missed'} ({fallback.stopped}) "
            f"| {', '.join(fallback.layers) or 'none'} | {pct(chosen.top1)} / {pct(chosen.agreement)} "
            f"| {chosen.latency_ratio:.2f}× | {len(fallback.steps)} | {m['analyze_s']:.1f} s |"
            + ("" if first is chosen else f" (full-integer: {pct(first.top1)} / {pct(first.agreement)})"))


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def main(names: list[str]) -> str:
    import tempfile

    calib_dir, eval_dir = imagenet_split()
    measured = []
    with tempfile.TemporaryDirectory(prefix="mobikit-bench-") as scratch:
        for name in names:
            print(f"measuring {name} …", file=sys.stderr, flush=True)
            measured.append(measure(name, calib_dir, eval_dir, Path(scratch)))
    lines = [f"Machine: {machine()}", "",
             f"Calibration: first {CALIBRATION_COUNT} of imagenet-dev (sorted); evaluation: the other 300 (one image = "
             "0.33 points). The mobikit rows are what these commands print and write (CALIB, EVAL: those folders):", ""]
    lines += [f"- `{m['command']}`" for m in measured]
    lines += ["", "## Float, bare converter, mobikit, Google's QAT reference", "",
              "Latency: host LiteRT, XNNPACK, median / p90 in ms (10 warm-up runs, then ≥ 100 runs and ≥ 2 s).", "",
              "| model | variant | top-1 | top-5 | agreement | size MB | 1 thread ms | 2 threads ms |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [row for m in measured for row in performance_rows(m)]
    lines += ["", "Targets:", ""] + [performance_checks(m) for m in measured]
    lines += ["", "## Bias correction (plain int8 → corrected int8, both full-integer, from the same run's report)", "",
              "| model | top-1 | agreement with float | KL(float ‖ int8) | layers | correction time |",
              "|---|---|---|---|---|---|"]
    lines += [correction_row(m) for m in measured]
    lines += ["", "## Float-fallback search (the same run) and `mobikit analyze` on its output folder", "",
              "| model | target | outcome | layers in float | written model top-1 / agreement | latency × full-integer "
              "| steps | analyze |", "|---|---|---|---|---|---|---|---|"]
    lines += [fallback_row(m) for m in measured]
    text = "\n".join(lines) + "\n"
    write_result("quantize_targets.md", text)
    return text


if __name__ == "__main__":
    print(main(sys.argv[1:] or list(DEFAULT_MODELS)))

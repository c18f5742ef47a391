"""Issue 24's targets: the bare converter, mobikit post-training (PTQ) and quantization-aware (QAT) int8 side by
side, measured by the calls the CLI makes, on fixed splits of ../shared/data/imagenet-dev:

- calibration: the first 200 images by sorted name (`--calib`);
- evaluation: the other 300 (`--eval`), which quantize splits itself: a seeded third (100) is the selection split
  the float-fallback search chooses on, the other 200 the report split every figure here comes from (one image =
  0.5 points; each figure with its 95% Wilson interval).

Per model: the float model; a bare `TFLiteConverter` int8 run on the same calibration images; PTQ with the former
input rule (p / 127.5 − 1, scale 2/255: every pixel a rounding tie) and with the exact grid ((p − 128) / 128), both
bias-corrected full-integer; `mobikit quantize` as run by default (PTQ, then the fallback search when it misses
its target); and `mobikit quantize --qat`. Also: the QAT simulation vs the converted model, the wall time of QAT,
size and host latency of the full-integer models. Writes benchmarks/results/int8_targets.md.

    nice -n 5 python benchmarks/int8_targets.py [v1-0.25-128 v1-0.75-224 v2-1.0-224]
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

from common import CALIBRATION_COUNT, IMAGENET_DEV, machine, write_result

import mobikit
from mobikit.bias_correction import correct_biases
from mobikit.convert import calibrate, requantize
from mobikit.images import ImageSet, find_images
from mobikit.inference import TFLiteClassifier, keras_predictor, predict_all
from mobikit.input_grid import FLOAT_INPUT
from mobikit.labels import imagenet
from mobikit.metrics import agreement, top_k_accuracy
from mobikit.models import build_model
from mobikit.progress import Reporter

from quantize_targets import bare_int8

DEFAULT_MODELS = ("v1-0.25-128", "v1-0.75-224", "v2-1.0-224")
TARGET_AGREEMENT = {"v1-0.25-128": 0.96, "v1-0.75-224": 0.99, "v2-1.0-224": 0.99}
MAX_DROP = 0.0025


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion p measured on n images."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def figure(p: float | None, n: int) -> str:
    if p is None:
        return "–"
    low, high = wilson(p, n)
    return f"{100 * p:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def former_input_ptq(keras_model, calib: ImageSet) -> bytes:
    """Bias-corrected full-integer int8 as mobikit made it before the exact grid: the float rule's inputs."""
    reporter = Reporter()
    calibrated = calibrate(keras_model, calib, reporter, None, FLOAT_INPUT)
    plain = requantize(calibrated, "int8")
    return correct_biases(calibrated, plain, calib, reporter, 2, FLOAT_INPUT)[0]


def measure(name: str, calib_dir: Path, eval_dir: Path, scratch: Path) -> dict:
    arch, alpha, resolution = name.split("-")
    alpha, resolution = float(alpha), int(resolution)
    options = dict(arch=arch, alpha=alpha, resolution=resolution, calib=calib_dir, calib_samples=CALIBRATION_COUNT,
                   eval=eval_dir)
    print(f"{name}: PTQ …", file=sys.stderr, flush=True)
    ptq = mobikit.quantize(**options, output=scratch / f"{name}-ptq")
    print(f"{name}: QAT …", file=sys.stderr, flush=True)
    start = time.perf_counter()
    qat = mobikit.quantize(**options, qat=True, output=scratch / f"{name}-qat")
    qat_wall = time.perf_counter() - start
    report = ptq.fallback.split.report
    assert report.paths == qat.fallback.split.report.paths
    keras_model = build_model(arch, alpha, resolution)
    calib = ImageSet(find_images(calib_dir), resolution, calib_dir)
    print(f"{name}: bare converter and the former input rule …", file=sys.stderr, flush=True)
    bare = bare_int8(keras_model, calib_dir, resolution)[0]
    former = former_input_ptq(keras_model, calib)
    models = {"float": keras_predictor(keras_model), "bare converter": TFLiteClassifier(bare),
              "PTQ, former input rule": TFLiteClassifier(former, 2, FLOAT_INPUT)}
    predictions = predict_all(report, models, imagenet())
    labels, reference = predictions.labels, predictions.scores["float"]
    rows = {key: (top_k_accuracy(scores, labels, 1), agreement(reference, scores))
            for key, scores in predictions.scores.items()}
    for key, result in (("PTQ", ptq), ("QAT", qat)):  # the same report images, from the runs' own verification
        full_integer = result.bias_correction.corrected
        rows[f"{key} full-integer"] = (full_integer.quant_top1, full_integer.agreement)
        rows[f"{key} written (after the fallback search)"] = (result.eval.quant_top1, result.eval.agreement)
    first = {key: result.fallback.steps[0] for key, result in (("PTQ", ptq), ("QAT", qat))}
    return {"name": name, "n": len(labels), "rows": rows, "ptq": ptq, "qat": qat, "qat_wall_s": qat_wall,
            "sizes": {key: step.size_bytes for key, step in first.items()},
            "latency": {key: step.latency_ms for key, step in first.items()}}


def table(m: dict) -> list[str]:
    n, flt = m["n"], m["rows"]["float"][0]
    lines = []
    for key, (top1, agree) in m["rows"].items():
        if key == "float":
            lines.append(f"| {m['name']} | float | {figure(top1, n)} | – | – |")
            continue
        lines.append(f"| {m['name']} | {key} | {figure(top1, n)} | {100 * (top1 - flt):+.1f} | {figure(agree, n)} |")
    return lines


def checks(m: dict) -> str:
    name, n = m["name"], m["n"]
    top1, agree = m["rows"]["QAT full-integer"]
    flt = m["rows"]["float"][0]
    target = TARGET_AGREEMENT[name]
    qat, sim = m["qat"], m["qat"].qat.simulation
    size = m["sizes"]["QAT"] / m["sizes"]["PTQ"]
    speed = m["latency"]["QAT"] / m["latency"]["PTQ"]
    mark = lambda ok: "✓" if ok else "✗"  # noqa: E731
    return (f"- **{name}** QAT full-integer: agreement {100 * agree:.1f}% on {n} report images (target ≥ "
            f"{100 * target:.0f}) {mark(agree >= target)}; top-1 drop {100 * (flt - top1):+.1f} points (target ≤ "
            f"{100 * MAX_DROP:g}) {mark(flt - top1 <= MAX_DROP + 1e-9)}; size {size:.3f}× PTQ, latency {speed:.2f}× "
            f"PTQ (2 threads, noisy host); QAT phase {qat.timings_s['qat']:.0f} s, whole run "
            f"{m['qat_wall_s']:.0f} s; simulation vs converted logits: mean |Δ| {sim['mean_abs']:.3f} = "
            f"{sim['mean_abs_steps']:.2f} int8 steps, max {sim['max_abs']:.3f}, same top-1 "
            f"{100 * sim['same_top1']:.1f}%")


def fallback_line(m: dict, key: str) -> str:
    result = m[key]
    fallback, chosen = result.fallback, result.fallback.chosen()
    split = fallback.split
    return (f"| {m['name']} | {key.upper()} | {fallback.target} | {', '.join(fallback.layers) or 'none'} | "
            f"{figure(chosen.agreement, len(split.selection))} | {figure(result.eval.agreement, result.eval.n)} | "
            f"{'met' if fallback.met else 'missed'} on selection |")


def main(names: list[str]) -> str:
    root = Path(tempfile.mkdtemp(prefix="mobikit-int8-"))
    images = sorted(IMAGENET_DEV.glob("*.JPEG"))
    folders = {}
    for part, chosen in (("calib", images[:CALIBRATION_COUNT]), ("eval", images[CALIBRATION_COUNT:])):
        folders[part] = root / part
        folders[part].mkdir()
        for image in chosen:
            (folders[part] / image.name).symlink_to(image)
    measured = [measure(name, folders["calib"], folders["eval"], root) for name in names]
    lines = [f"Machine: {machine()}", "",
             f"Splits of imagenet-dev: calibration = first {CALIBRATION_COUNT} (sorted); the other 300 are `--eval`, "
             "which quantize splits into 100 selection images (the fallback search chooses on them) and 200 report "
             "images (every figure below; 95% Wilson intervals in brackets; one image = 0.5 points).", "",
             "### Top-1 and agreement with float on the 200 report images", "",
             "| model | variant | top-1 % [95% CI] | Δ top-1 vs float | agreement % [95% CI] |",
             "|---|---|---|---|---|"]
    lines += [row for m in measured for row in table(m)]
    lines += ["", "Targets (issue 24):", ""] + [checks(m) for m in measured]
    lines += ["", "### Fallback search: chosen on the selection images, reported on the report images", "",
              "| model | run | target | layers kept in float | selection agreement | report agreement | outcome |",
              "|---|---|---|---|---|---|---|"]
    lines += [fallback_line(m, key) for m in measured for key in ("ptq", "qat")]
    text = "\n".join(lines) + "\n"
    write_result("int8_targets.md", text)
    return text


if __name__ == "__main__":
    print(main(sys.argv[1:] or list(DEFAULT_MODELS)[:1]))

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
size and host latency of the full-integer models. Rewrites benchmarks/results/int8_targets.md after each phase
(PTQ, then QAT, per model), keeping the rows of the models this run does not measure.

    nice -n 5 python benchmarks/int8_targets.py [v1-0.25-128 v1-0.75-224 v2-1.0-224]
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
import time
from pathlib import Path

from common import CALIBRATION_COUNT, IMAGENET_DEV, RESULTS, machine, write_result

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


class LogReporter(Reporter):
    """Progress on stderr for a run that can last hours: each phase's start and end, and within a phase at most one
    line a minute, so a stopped run's log shows how far it got."""

    def track(self, items, total, description, count=lambda item: 1):
        start = last = time.perf_counter()
        done = 0
        print(f"  {time.strftime('%H:%M:%S')} {description}: started ({total} to do)", file=sys.stderr, flush=True)
        for item in super().track(items, total, description, count):
            yield item
            done += count(item)
            if time.perf_counter() - last >= 60:
                last = time.perf_counter()
                print(f"  {time.strftime('%H:%M:%S')} {description}: {done}/{total} after {last - start:.0f} s",
                      file=sys.stderr, flush=True)
        print(f"  {time.strftime('%H:%M:%S')} {description}: {done} in {time.perf_counter() - start:.0f} s",
              file=sys.stderr, flush=True)


def measure_ptq(name: str, calib_dir: Path, eval_dir: Path, scratch: Path) -> dict:
    """The float model, the bare converter, PTQ with the former input rule and `mobikit quantize` (PTQ)."""
    arch, alpha, resolution = name.split("-")
    alpha, resolution = float(alpha), int(resolution)
    options = dict(arch=arch, alpha=alpha, resolution=resolution, calib=calib_dir, calib_samples=CALIBRATION_COUNT,
                   eval=eval_dir)
    print(f"{name}: PTQ …", file=sys.stderr, flush=True)
    ptq = mobikit.quantize(**options, output=scratch / f"{name}-ptq", reporter=LogReporter())
    report = ptq.fallback.split.report
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
    m = {"name": name, "n": len(labels), "rows": rows, "ptq": ptq, "options": options}
    _add_run_rows(m, "PTQ", ptq)
    return m


def measure_qat(m: dict, scratch: Path) -> None:
    """`mobikit quantize --qat` on the same splits, added to `m`."""
    name = m["name"]
    print(f"{name}: QAT …", file=sys.stderr, flush=True)
    start = time.perf_counter()
    qat = mobikit.quantize(**m["options"], qat=True, output=scratch / f"{name}-qat", reporter=LogReporter())
    m["qat_wall_s"] = time.perf_counter() - start
    assert m["ptq"].fallback.split.report.paths == qat.fallback.split.report.paths
    m["qat"] = qat
    _add_run_rows(m, "QAT", qat)
    first = {key: m[key.lower()].fallback.steps[0] for key in ("PTQ", "QAT")}
    m["sizes"] = {key: step.size_bytes for key, step in first.items()}
    m["latency"] = {key: step.latency_ms for key, step in first.items()}


def _add_run_rows(m: dict, key: str, result) -> None:
    """The same report images, from the run's own verification."""
    full_integer = result.bias_correction.corrected
    m["rows"][f"{key} full-integer"] = (full_integer.quant_top1, full_integer.agreement)
    m["rows"][f"{key} written (after the fallback search)"] = (result.eval.quant_top1, result.eval.agreement)


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
    if "qat" not in m:
        return f"- **{name}** QAT: not measured (this file was written before the QAT run finished)"
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


def render(measured: list[dict]) -> str:
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
    lines += [fallback_line(m, key) for m in measured for key in ("ptq", "qat") if key in m]
    return "\n".join(lines) + "\n"


def _model_of(line: str) -> str | None:
    """The model a result line belongs to: a table row's first cell, a target line's bold name."""
    for pattern in (r"^\| (\S+) \|", r"^- \*\*(\S+)\*\*"):
        found = re.match(pattern, line)
        if found and found.group(1) not in ("model", "---"):
            return found.group(1)
    return None


def _blocks(lines: list[str]) -> list[list[str]]:
    """The runs of consecutive per-model lines (the top-1 table, the targets, the fallback table), in order."""
    blocks, current = [], []
    for line in lines:
        if _model_of(line):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks + ([current] if current else [])


def merged(old: str, new: str, measured: set[str]) -> str:
    """`new` with the rows of the models it did not measure kept from `old` (one model per run leaves the others'
    rows in place), each block ordered by model; the machine line of rows measured earlier on another machine
    is kept beside them."""
    old_lines = old.splitlines()
    old_blocks = _blocks(old_lines)
    lines, index, out, i = new.splitlines(), 0, [], 0
    order = {name: n for n, name in enumerate(DEFAULT_MODELS)}
    kept = set()
    while i < len(lines):
        if not _model_of(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        block = []
        while i < len(lines) and _model_of(lines[i]):
            block.append(lines[i])
            i += 1
        earlier = [line for line in (old_blocks[index] if index < len(old_blocks) else [])
                   if _model_of(line) not in measured]
        kept.update(_model_of(line) for line in earlier)
        out += sorted(earlier + block, key=lambda line: order.get(_model_of(line), len(order)))
        index += 1
    old_machine = next((line for line in old_lines if line.startswith("Machine: ")), None)
    if kept and old_machine and old_machine != out[0]:
        out.insert(1, f"Rows of {', '.join(sorted(kept))} measured earlier on: {old_machine[len('Machine: '):]}")
    elif kept:  # the same machine as the last run: its notes on still earlier rows stay
        out[1:1] = [line for line in old_lines if line.startswith("Rows of ")]
    return "\n".join(out) + "\n"


def save(measured: list[dict]) -> str:
    path = RESULTS / "int8_targets.md"
    new = render(measured)
    text = merged(path.read_text(), new, {m["name"] for m in measured}) if path.is_file() else new
    write_result("int8_targets.md", text)
    return text


def main(names: list[str]) -> str:
    root = Path(tempfile.mkdtemp(prefix="mobikit-int8-"))
    images = sorted(IMAGENET_DEV.glob("*.JPEG"))
    folders = {}
    for part, chosen in (("calib", images[:CALIBRATION_COUNT]), ("eval", images[CALIBRATION_COUNT:])):
        folders[part] = root / part
        folders[part].mkdir()
        for image in chosen:
            (folders[part] / image.name).symlink_to(image)
    measured: list[dict] = []
    text = ""
    for name in names:  # the results file is rewritten after each phase: a stopped run keeps what it finished
        measured.append(measure_ptq(name, folders["calib"], folders["eval"], root))
        text = save(measured)
        measure_qat(measured[-1], root)
        text = save(measured)
    return text


if __name__ == "__main__":
    print(main(sys.argv[1:] or list(DEFAULT_MODELS)[:1]))

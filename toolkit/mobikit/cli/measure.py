"""`mobikit bench`, `mobikit eval`, `mobikit sweep` and `mobikit demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import MobikitError, UsageError
from ..runtime import showing_result
from .. import defaults
from .common import (Arch, ArchOpt, JsonOpt, ThreadsOpt, emit_json, err, float_list, int_list, out, reporter,
                     stdout_to_stderr, weights_arg)
from ..formatting import number
from .android import AdbServerOpt
from .tables import (bench_errors, bench_table, confusions_table, farm_bench_table, phone_label, sweep_skips,
                     sweep_table)


def bench(
    model: Path = typer.Argument(..., help="A .tflite file or a quantize output folder (on a phone: the folder, "
                                           "whose model.json the app checks)."),
    device: str = typer.Option("host", "--device", help="host, or phones: serial, model substring (pixel), "
                                                       "SERVER/SERIAL, 'all' or a comma-separated list (in parallel)."),
    threads: str = typer.Option("2", "--threads", help="Thread counts, comma-separated (1,2,4)."),
    delegate: str = typer.Option("xnnpack", "--delegate",
                                 help="host: xnnpack, cpu; phone: cpu, xnnpack, gpu, nnapi (comma-separated)."),
    warmup: int = typer.Option(5, "--warmup", help="Warm-up runs before timing."),
    runs: int = typer.Option(50, "--runs", help="At least this many timed runs."),
    min_seconds: float = typer.Option(1.0, "--min-seconds", help="Time runs for at least this long (host, and the app on a phone)."),
    tool: str = typer.Option("app", "--tool", help="Phone: app (the demo app's benchmark mode) or benchmark_model."),
    benchmark_binary: Optional[Path] = typer.Option(None, "--benchmark-binary",
                                                    help="benchmark_model binary for the device's ABI."),
    adb: Optional[Path] = typer.Option(None, "--adb", help="adb binary (default: $ADB, $ANDROID_HOME, PATH)."),
    compare_host: bool = typer.Option(False, "--compare-host", help="Phone: also benchmark the model on this host."),
    adb_server: Optional[list[str]] = AdbServerOpt,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Phones: the folder for perf.json "
                                          "[default with several phones: ./mobikit-out/<model>_perf_<UTC time>]."),
    as_json: bool = JsonOpt,
):
    """Latency the way TFLite's benchmark_model measures it, on this host or on phones (several in parallel)."""
    from ..android.adb import HOST
    from ..android.farm import adb_servers, is_several, one_phone
    from ..benchmark import bench as run_bench

    delegates = tuple(part.strip().lower() for part in delegate.split(",") if part.strip())
    thread_counts = tuple(int_list(threads, "threads"))
    on_host = device.lower() == HOST
    if output is not None and on_host:
        raise UsageError("{output} is for phones (perf.json): pass {device} with a phone, or 'all'", "output",
                         "device")
    if not on_host and (is_several(device) or output is not None):
        if compare_host:
            raise UsageError("{compare_host} goes with one phone, not with several or {output}", "compare_host",
                             "output")
        return bench_several(model, device, adb_server or (), output, tool, thread_counts, delegates,
                             warmup, runs, adb, benchmark_binary, min_seconds, as_json)
    if not on_host:
        adb, device = one_phone(adb_servers(adb_server or (), reporter()), device, adb, reporter())
    measured: list = []
    try:
        with stdout_to_stderr():
            results = run_bench(model, device=device, threads=thread_counts, delegates=delegates, warmup=warmup,
                                runs=runs, min_seconds=min_seconds, tool=tool, benchmark_binary=benchmark_binary,
                                adb=adb, compare_host=compare_host, reporter=reporter(), on_result=measured.append)
    except BaseException:
        if measured:  # a phone run cut off or stopped: the rows measured before are kept; the last line says the rest
            with showing_result():
                show_bench(measured, model, as_json)
        raise
    with showing_result():
        show_bench(results, model, as_json)


def show_bench(results, model: Path, as_json: bool) -> None:
    if as_json:
        emit_json([r.to_json() for r in results])
        return
    out.print(bench_table(results))
    for line in bench_errors(results):
        out.print(line)
    if Path(model).is_dir():
        from ..description import load_output_folder

        described = load_output_folder(model).description
        layers = described.fallback_layers
        out.print("full-integer model" if described.full_integer and not layers else
                  f"not full-integer: layers in float: {', '.join(layers) or '–'} (delegates such as NNAPI/NPU "
                  "may split the graph at them)")
    err.print("mean, p5, p95, min, max and peak memory: --json")  # a hint, not a result


def bench_several(model, device, servers, output, tool, threads, delegates, warmup, runs, adb, benchmark_binary,
                  min_seconds, as_json) -> None:
    """`bench --device all` (or a list): one table, perf.json in the output folder, exit 1 when a phone failed. A
    stop shows the rows measured before it; its last line names the rest."""
    from ..android.farm_runs import bench_farm

    shown: list = []
    try:
        with stdout_to_stderr():
            result = bench_farm(model, device, servers, output, tool, threads, delegates, warmup, runs, adb,
                                benchmark_binary, min_secs=min_seconds, reporter=reporter(), on_result=shown.append)
    except KeyboardInterrupt:
        if shown and shown[0].has_news:
            with showing_result():
                show_farm_bench(shown[0], as_json)
        raise
    with showing_result():
        show_farm_bench(result, as_json)
    if result.failed:
        raise MobikitError(farm_bench_failure(result))


def show_farm_bench(result, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_json())
    elif result.measured:
        out.print(farm_bench_table(result))
    for row in result.rows:
        if row.error:
            where = phone_label(row) + (f", {number(row.threads)} threads, {row.delegate}" if row.threads else "")
            err.print(f"{where}: error: {row.error}")
    if result.output and not as_json:
        out.print(f"perf data: {result.output}/perf.json")


def farm_bench_failure(result) -> str:
    """The last line of a farm bench that did not measure everything: true to what did and did not run."""
    from ..android.farm import failure_summary

    keys = [(r.server, r.serial) for r in result.rows]
    gone = [(server, serial) for server, serial in keys if (f"{server}/{serial}" if serial else server) in result.failed]
    phones = {f"{r.server}/{r.serial}" for r in result.rows if r.serial}  # the rest: servers that did not answer
    named = [f"{where}: not measured: {', '.join(missing)}" if (missing := where in phones and
                                                                result.not_measured(where)) else where
             for where in result.failed]
    failed = f"{failure_summary(gone, keys)} ({'; '.join(named)})"
    if not result.measured:
        return f"{failed}: nothing was measured, so no perf.json was written; the errors are above"
    return (f"{failed}; the {len(result.measured)} row(s) measured (some before a failure, too) are in "
            f"{result.output}/perf.json; the errors are above")


def evaluate(
    model: Path = typer.Argument(..., help="A .tflite, a .keras file or a quantize output folder."),
    data: Path = typer.Option(..., "--data", help="Labelled images (synset file-name prefix or class folders)."),
    samples: Optional[int] = typer.Option(None, "--samples", help="Evaluate a seeded sample of N images."),
    threads: int = ThreadsOpt,
    as_json: bool = JsonOpt,
):
    """Top-1/top-5 accuracy and the most frequent confusions, with quantize's preprocessing and label rules."""
    from ..evaluation import evaluate as run_evaluate
    from ..formatting import pct

    with stdout_to_stderr():
        result = run_evaluate(model, data, samples, threads, reporter())
    if as_json:
        emit_json(result.to_json())
        return
    out.print(f"{result.model}: top-1 {pct(result.top1)}, top-5 {pct(result.top5)} on {result.n} images")
    if result.held_out is not None:
        held = result.held_out
        out.print(f"{result.seen} of these {result.n} images are photos the model was trained on ({result.seen_source} "
                  f"lists them): the score above flatters it. On the other {held['n']} (held out): "
                  + (f"top-1 {pct(held['top1'])}, top-5 {pct(held['top5'])}" if held["n"] else "none left"))
    if result.confusions:
        out.print(confusions_table(result.confusions))


def sweep(
    arch: Arch = ArchOpt,
    alpha: str = typer.Option("0.25,0.5,0.75", "--alpha", help="Width multipliers, comma-separated."),
    resolution: str = typer.Option("128,160,192,224", "--resolution", help="Input sizes, comma-separated."),
    weights: str = typer.Option("imagenet", "--weights",
                                help="imagenet (cells without weights are skipped), none (untrained) or a file."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images (default: the embedded set)."),
    eval_dir: Optional[Path] = typer.Option(None, "--eval", help="Labelled images for top-1 (else: agreement)."),
    calib_samples: int = typer.Option(defaults.CALIBRATION_SAMPLES, "--calib-samples",
                                      help="How many calibration images (seeded sample)."),
    eval_samples: Optional[int] = typer.Option(None, "--eval-samples", help="Verify on at most N images."),
    threads: int = typer.Option(2, "--threads", help="CPU threads for the latency measurements."),
    bias_correction: Optional[bool] = typer.Option(
        None, "--bias-correction/--no-bias-correction", help="Empirical bias correction [default: on]."),
    output: Path = typer.Option(..., "--output", "-o", help="Sweep folder (reused: finished cells are kept)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Cells at once, each in its own local process "
                                       "(not with --ray) [default: 1, in this process]."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run each cell as a task on this Ray cluster (HOST:PORT, "
                                      "or auto); needs pip install 'mobikit[ray]'."),
    as_json: bool = JsonOpt,
):
    """Quantize, verify and time every α × resolution, and plot accuracy against mult-adds and latency."""
    from ..sweeping import SweepRequest, sweep as run_sweep

    request = SweepRequest(output=output, arch=arch.value, alphas=float_list(alpha, "alpha"),
                           resolutions=int_list(resolution, "resolution"), weights=weights_arg(weights), calib=calib,
                           eval=eval_dir, calib_samples=calib_samples, eval_samples=eval_samples, threads=threads,
                           bias_correction=bias_correction, jobs=jobs, ray=ray)
    with stdout_to_stderr():
        result = run_sweep(request, reporter())
    if as_json:
        emit_json(result.to_json())
    else:
        out.print(sweep_table(result, arch.value))
        for line in sweep_skips(result):
            out.print(line)
        if result.metric != "top1" and any(cell.status == "done" for cell in result.cells):
            out.print("no labelled evaluation images: top-1 needs labelled --eval images; showing int8 agreement "
                      "with float")
        out.print("wrote " + ", ".join(result.files.values()) + f" in {result.seconds:.1f} s")
    failed = [cell for cell in result.cells if cell.status == "failed"]
    if failed:
        raise MobikitError("{count} of {total} cells failed (listed in sweep.md); first, {name}: {reason}",
                           count=len(failed), total=len(result.cells), name=failed[0].name, reason=failed[0].reason)


def demo(
    model: Optional[Path] = typer.Argument(None, help="A quantize output folder or a .tflite file."),
    model_option: Optional[Path] = typer.Option(None, "--model", help="The same as the MODEL argument."),
    source: str = typer.Option("0", "--source", help="Camera index, video file or folder of images."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the annotated frames to this .mp4."),
    no_window: bool = typer.Option(False, "--no-window", help="Never open a window (headless)."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Play a video or image folder at this rate; 0: as fast "
                                        "as the model goes [default in a window: the video's own rate, 2 for "
                                        "images; headless: as fast as the model goes]."),
    threads: int = ThreadsOpt,
    as_json: bool = JsonOpt,
):
    """Live classification with top-3 labels, latency and FPS drawn on each frame."""
    from ..live_demo import demo as run_demo

    if (model is None) == (model_option is None):
        raise UsageError("give the model once: mobikit demo MODEL (or --model MODEL)")
    with stdout_to_stderr():
        summary = run_demo(model or model_option, source, output, False if no_window else None, threads,
                           reporter=reporter(), fps=fps)
    if as_json:
        emit_json(summary.to_json())
    else:
        fps = "–" if summary.fps is None else f"{summary.fps:.1f}"
        latency = "–" if summary.mean_latency_ms is None else f"{summary.mean_latency_ms:.2f} ms"
        out.print(f"{summary.frames} frames, mean inference {latency}, {fps} FPS"
                  + (f", annotated video: {summary.output}" if summary.output else "")
                  + (" (interrupted)" if summary.interrupted else ""))
    if summary.interrupted:
        raise KeyboardInterrupt

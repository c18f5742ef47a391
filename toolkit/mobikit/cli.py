"""The `mobikit` command line: parse, call the library, print. No logic lives here.

Conventions every command follows: `--json` prints only JSON on stdout (logs, progress and anything TensorFlow
prints go to stderr); usage errors exit 2 and runtime failures exit 1, each with a one-line message.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import MobikitError, UsageError
from .report import pct

app = typer.Typer(
    name="mobikit",
    help="MobileNet from the papers' tables to an int8 model measured on a phone.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
# stderr through its own descriptor: noisy TensorFlow calls temporarily capture fd 2, progress must still show
err = Console(file=os.fdopen(os.dup(2), "w", buffering=1), highlight=False, soft_wrap=True)


class Arch(str, Enum):
    v1 = "v1"
    v2 = "v2"


ArchOpt = typer.Option(Arch.v1, "--arch", help="MobileNet version: v1 or v2.")
AlphaOpt = typer.Option(1.0, "--alpha", help="Width multiplier α (> 0).")
ResolutionOpt = typer.Option(224, "--resolution", help="Input size R (square, >= 32).")
JsonOpt = typer.Option(False, "--json", help="Print only JSON on stdout.")


@contextmanager
def json_stdout(enabled: bool):
    """With --json, route everything printed to stdout (TensorFlow's converter prints there) to stderr."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def emit_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")
    sys.stdout.flush()


def _weights_arg(weights: str) -> str | None:
    return None if weights.lower() == "none" else weights


@app.command()
def profile(
    arch: Arch = ArchOpt,
    alpha: float = AlphaOpt,
    resolution: int = ResolutionOpt,
    classes: int = typer.Option(1000, "--classes", help="Classifier outputs."),
    standard_conv: bool = typer.Option(False, "--standard-conv", help="V1 only: full 3×3 convs (paper's Table 4)."),
    as_json: bool = JsonOpt,
):
    """Per-layer params and mult-adds, counted as the MobileNet papers count them."""
    from .profile import profile as run_profile

    result = run_profile(arch.value, alpha, resolution, classes, standard_conv)
    if as_json:
        emit_json(result.to_json())
        return
    table = Table(title=f"MobileNet {arch.value} α{alpha:g} @{resolution}" + (" (standard conv)" if standard_conv else ""))
    for column in ("layer", "type / stride", "filter shape", "input size", "output size"):
        table.add_column(column)
    table.add_column("params", justify="right")
    table.add_column("mult-adds", justify="right")
    for layer in result.layers:
        table.add_row(layer.name, f"{layer.type} / s{layer.stride}", "×".join(map(str, layer.filter_shape)),
                      "×".join(map(str, layer.input_shape)), "×".join(map(str, layer.output_shape)),
                      f"{layer.params:,}", f"{layer.macs:,}")
    table.add_section()
    table.add_row("total", "", "", "", "", f"{result.params:,}", f"{result.macs:,}")
    out.print(table)
    out.print(f"{result.params / 1e6:.2f}M params, {result.macs / 1e6:.0f}M mult-adds")


@app.command()
def build(
    arch: Arch = ArchOpt,
    alpha: float = AlphaOpt,
    resolution: int = ResolutionOpt,
    classes: int = typer.Option(1000, "--classes", help="Classifier outputs."),
    weights: str = typer.Option("imagenet", "--weights", help="imagenet, none, or a .h5/.weights.h5/.keras file."),
    standard_conv: bool = typer.Option(False, "--standard-conv", help="V1 only: full 3×3 convs (paper's Table 4)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to save the model (.keras)."),
    as_json: bool = JsonOpt,
):
    """Build a MobileNet from the paper's table and save it as a .keras file."""
    from .models import save_model
    from .profile import profile as run_profile

    if output.suffix != ".keras":
        raise UsageError(f"--output must end in .keras, got {output}")
    cost = run_profile(arch.value, alpha, resolution, classes, standard_conv)
    with json_stdout(as_json):
        save_model(output, arch.value, alpha, resolution, classes, _weights_arg(weights), standard_conv)
    summary = {"output": str(output), "arch": arch.value, "alpha": alpha, "resolution": resolution,
               "classes": classes, "params": cost.params, "macs": cost.macs}
    if as_json:
        emit_json(summary)
    else:
        out.print(f"saved {output}: {cost.params:,} params, {cost.macs / 1e6:.1f}M mult-adds")


class Mode(str, Enum):
    int8 = "int8"
    fp16 = "fp16"
    dynamic = "dynamic"
    fp32 = "fp32"


class IOType(str, Enum):
    int8 = "int8"
    uint8 = "uint8"
    float32 = "float32"


def _reporter(as_json: bool):
    """Progress bars and notes on stderr (with --json too: stdout holds only the JSON)."""
    from .progress import ConsoleReporter

    return ConsoleReporter(err)


@app.command()
def quantize(
    arch: Arch = ArchOpt,
    alpha: float = AlphaOpt,
    resolution: int = ResolutionOpt,
    weights: str = typer.Option("imagenet", "--weights", help="imagenet, none, or a .h5/.weights.h5/.keras file."),
    model: Optional[Path] = typer.Option(None, "--model", help="Quantize this saved .keras model instead."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images (default: the embedded set)."),
    calib_samples: int = typer.Option(200, "--calib-samples", help="How many calibration images (seeded sample)."),
    mode: Mode = typer.Option(Mode.int8, "--mode", help="int8 (full-integer), fp16, dynamic or fp32."),
    io: Optional[IOType] = typer.Option(None, "--io", help="int8 model input/output type [default: int8]."),
    eval_dir: Optional[Path] = typer.Option(None, "--eval", help="Labelled images to verify on."),
    eval_samples: Optional[int] = typer.Option(None, "--eval-samples", help="Verify on at most N images."),
    threads: int = typer.Option(2, "--threads", help="CPU threads for the latency check."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Class names, one per line (non-ImageNet models)."),
    bias_correction: Optional[bool] = typer.Option(
        None, "--bias-correction/--no-bias-correction", help="Empirical bias correction [default: on for int8]."),
    max_drop: Optional[float] = typer.Option(
        None, "--max-drop", help="Keep the worst layers in float until top-1 is within P points of float "
        "[default: 0.4 with labelled eval images]."),
    min_agreement: Optional[float] = typer.Option(
        None, "--min-agreement", help="Fallback target as % top-1 agreement with float [default: 97 when the eval "
        "images carry no labels and --max-drop is given]."),
    max_fallback_layers: int = typer.Option(5, "--max-fallback-layers", help="At most K layers kept in float."),
    max_latency_ratio: float = typer.Option(1.15, "--max-latency-ratio",
                                            help="At most L × the full-integer model's latency."),
    strict_int8: bool = typer.Option(False, "--strict-int8", help="Forbid float fallback (int8-only accelerators)."),
    analyze: bool = typer.Option(False, "--analyze", help="Also write the per-layer error analysis."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output folder [default: ./mobikit-out/<name>]."),
    as_json: bool = JsonOpt,
):
    """Quantize a MobileNet to TFLite and verify it against the float model in the same run."""
    from .quantize import QuantizeRequest, quantize as run_quantize

    request = QuantizeRequest(arch.value, alpha, resolution, _weights_arg(weights), model, calib, calib_samples,
                              mode.value, io.value if io else None, eval_dir, eval_samples, threads, output, labels,
                              bias_correction, max_drop, min_agreement, max_fallback_layers, max_latency_ratio,
                              strict_int8, analyze)
    with json_stdout(as_json):
        result = run_quantize(request, _reporter(as_json))
    if as_json:
        emit_json(result.to_json())
        return
    ev, latency = result.eval, result.latency_ms
    table = Table(title=f"{result.model} → {result.output_dir}")
    table.add_column("")
    table.add_column("float", justify="right")
    table.add_column(result.mode, justify="right")
    if ev.labelled:
        table.add_row("top-1", pct(ev.float_top1), pct(ev.quant_top1))
        table.add_row("top-5", pct(ev.float_top5), pct(ev.quant_top5))
    table.add_row("agreement with float", "", pct(ev.agreement))
    table.add_row("size", f"{result.float_size_bytes / 1e6:.2f} MB",
                  f"{result.size_bytes / 1e6:.2f} MB ({result.size_bytes / result.float_size_bytes:.2f}×)")
    table.add_row(f"latency (median, {threads} threads)", f"{latency['float']:.2f} ms",
                  f"{latency['quant']:.2f} ms ({latency['quant'] / latency['float']:.2f}×)")
    out.print(table)
    description = result.report["description"]
    if description.get("full_integer"):
        out.print("full-integer int8 model" + (", bias-corrected" if description.get("bias_correction") else ""))
    fallback = result.report.get("fallback")
    if fallback:
        from .cli_analyze import print_fallback

        print_fallback(fallback)
    out.print(f"verified on {ev.n} images: {result.report['eval']['source']}")
    out.print("phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings_s.items()))


def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"{flag} takes comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise UsageError(f"{flag} takes numbers >= 1, got {text!r}")
    return values


def _name_list(text: str, flag: str, allowed: tuple[str, ...]) -> list[str]:
    values = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [v for v in values if v not in allowed]
    if not values or unknown:
        raise UsageError(f"{flag} takes a comma-separated list of {', '.join(allowed)}; got {text!r}")
    return values


def _bench_table(results) -> Table:
    table = Table(title="latency (ms)")
    for column in ("device", "threads", "delegate", "runs", "init", "first", "mean", "median", "p5", "p90", "p95",
                   "min", "max", "std", "size", "peak RSS"):
        table.add_column(column, justify="left" if column in ("device", "delegate") else "right")
    number = lambda v, fmt="{:.2f}": "–" if v is None else fmt.format(v)  # noqa: E731
    for r in results:
        if r.error:
            table.add_row(r.device, number(r.threads, "{}"), r.delegate or "–", f"error: {r.error}")
            continue
        table.add_row(r.device, number(r.threads, "{}"), r.delegate or "–", number(r.runs, "{}"), number(r.init_ms),
                      number(r.first_ms), number(r.mean_ms), number(r.median_ms), number(r.p5_ms),
                      number(r.p90_ms), number(r.p95_ms), number(r.min_ms), number(r.max_ms), number(r.std_ms),
                      number(r.size_bytes and r.size_bytes / 1e6, "{:.2f} MB"), number(r.peak_rss_mb, "{:.0f} MB"))
    return table


@app.command()
def bench(
    model: Path = typer.Argument(..., help="A .tflite file or a quantize output folder."),
    device: str = typer.Option("host", "--device", help="host, or a phone: serial or model substring (pixel)."),
    threads: str = typer.Option("2", "--threads", help="Thread counts, comma-separated (1,2,4)."),
    delegate: str = typer.Option("xnnpack", "--delegate",
                                 help="host: xnnpack, cpu; phone: cpu, xnnpack, gpu, nnapi (comma-separated)."),
    warmup: int = typer.Option(5, "--warmup", help="Warm-up runs before timing."),
    runs: int = typer.Option(50, "--runs", help="At least this many timed runs."),
    min_seconds: float = typer.Option(1.0, "--min-seconds", help="Time runs for at least this long (host)."),
    tool: str = typer.Option("app", "--tool", help="Phone: app (the demo app's benchmark mode) or benchmark_model."),
    benchmark_binary: Optional[Path] = typer.Option(None, "--benchmark-binary",
                                                    help="benchmark_model binary for the device's ABI."),
    adb: Optional[Path] = typer.Option(None, "--adb", help="adb binary (default: $ADB, $ANDROID_HOME, PATH)."),
    compare_host: bool = typer.Option(False, "--compare-host", help="Phone: also benchmark the model on this host."),
    as_json: bool = JsonOpt,
):
    """Latency the way TFLite's benchmark_model measures it, on this host or on a phone."""
    from .bench import HOST_DELEGATES, bench_host

    thread_counts = _int_list(threads, "--threads")
    on_host = device.lower() == "host"
    if on_host:
        delegates = _name_list(delegate, "--delegate", HOST_DELEGATES)
        results = [bench_host(model, n, d, warmup, runs, min_seconds) for n in thread_counts for d in delegates]
    else:
        from .android.contract import DELEGATES
        from .android.device_bench import bench_device

        if tool not in ("app", "benchmark_model"):
            raise UsageError(f"--tool is app or benchmark_model, got {tool!r}")
        delegates = _name_list(delegate, "--delegate", DELEGATES)
        results = bench_device(model, device, tool, thread_counts, delegates, warmup, runs, adb=adb,
                               benchmark_binary=benchmark_binary)
        if compare_host:
            results += [bench_host(model, n, d, warmup, runs, min_seconds)
                        for n in thread_counts for d in delegates if d in HOST_DELEGATES]
    if as_json:
        emit_json([r.to_json() for r in results])
        return
    out.print(_bench_table(results))
    if (model / "model.json").is_file():
        described = json.loads((model / "model.json").read_text())
        layers = described.get("fallback_layers") or []
        out.print("full-integer model" if described.get("full_integer") and not layers else
                  f"not full-integer: layers in float: {', '.join(layers) or '–'} (delegates such as NNAPI/NPU "
                  "may split the graph at them)")


@app.command("eval")
def eval_command(
    model: Path = typer.Argument(..., help="A .tflite, a .keras file or a quantize output folder."),
    data: Path = typer.Option(..., "--data", help="Labelled images (synset file-name prefix or class folders)."),
    samples: Optional[int] = typer.Option(None, "--samples", help="Evaluate a seeded sample of N images."),
    threads: int = typer.Option(2, "--threads", help="CPU threads for TFLite models."),
    as_json: bool = JsonOpt,
):
    """Top-1/top-5 accuracy and the most frequent confusions, with quantize's preprocessing and label rules."""
    from .evaluate import evaluate

    with json_stdout(as_json):
        result = evaluate(model, data, samples, threads, _reporter(as_json))
    if as_json:
        emit_json(result.to_json())
        return
    out.print(f"{result.model}: top-1 {pct(result.top1)}, top-5 {pct(result.top5)} on {result.n} images")
    if result.confusions:
        table = Table(title="most frequent confusions")
        table.add_column("true")
        table.add_column("predicted")
        table.add_column("count", justify="right")
        for row in result.confusions:
            table.add_row(row["true"], row["predicted"], str(row["count"]))
        out.print(table)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: run the Typer app and map every failure to a one-line message and an exit code."""
    command = typer.main.get_command(app)
    argv = sys.argv[1:] if argv is None else argv
    try:
        command.main(args=argv or ["--help"], prog_name="mobikit", standalone_mode=False)
    except typer.Exit as exit_:
        return exit_.exit_code
    except typer.TyperException as exc:  # typer's usage errors carry exit code 2
        ctx = getattr(exc, "ctx", None)
        hint = f" (see 'mobikit {ctx.info_name} --help')" if ctx is not None and ctx.parent is not None else ""
        err.print(f"error: {' '.join(exc.format_message().split())}{hint}", markup=False)
        return exc.exit_code
    except typer.Abort:
        err.print("aborted")
        return 130
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except MobikitError as exc:
        err.print(f"error: {exc}", markup=False)
        return exc.exit_code
    except Exception as exc:
        if os.environ.get("MOBIKIT_DEBUG"):
            raise
        message = str(exc).splitlines()[0] if str(exc) else ""
        err.print(f"error: {type(exc).__name__}: {message} (set MOBIKIT_DEBUG=1 for the traceback)", markup=False)
        return 1
    return 0


def run() -> None:
    sys.exit(main())

from . import cli_android  # noqa: E402,F401  (registers devices/deploy)
from . import cli_measure  # noqa: E402,F401  (registers sweep/demo)
from . import cli_analyze  # noqa: E402,F401  (registers analyze)

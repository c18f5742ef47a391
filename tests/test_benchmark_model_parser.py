"""benchmark_model's stdout, in every format it has printed, parsed against real transcripts (fixtures SOURCES.md)."""

from __future__ import annotations

import pytest

from mobikit.android.benchmark_model import benchmark_model_args, parse_benchmark_output

FIXTURES = "fixtures/benchmark_model"


def _read(shared, name: str) -> str:
    return (shared / FIXTURES / name).read_text()


def test_recent_info_prefixed_format(shared):
    parsed = parse_benchmark_output(_read(shared, "recent_cpu_xnnpack_linux_2024.txt"))
    assert parsed == pytest.approx({
        "runs": 74, "init_ms": 12.75, "first_ms": 14.744, "warmup_mean_ms": 13.7643,
        "mean_ms": 13.5202, "min_ms": 13.105, "max_ms": 15.765,
        "std_ms": 0.47, "p5_ms": None, "median_ms": None, "p95_ms": None, "peak_rss_mb": None,
        "peak_rss_delta_mb": None})


def test_2020_android_format_with_peak_memory(shared):
    parsed = parse_benchmark_output(_read(shared, "android_adb_shell_2020_peak_memory.txt"))
    assert parsed == pytest.approx({
        "runs": 50, "init_ms": 0.855, "first_ms": 49.06, "warmup_mean_ms": 34.8251,
        "mean_ms": 33.2094, "min_ms": 32.641, "max_ms": 34.005,
        "std_ms": 0.45, "p5_ms": None, "median_ms": None, "p95_ms": None, "peak_rss_mb": None,
        "peak_rss_delta_mb": 12.8672})


def test_2019_format_without_first_inference_line(shared):
    parsed = parse_benchmark_output(_read(shared, "old_format_2019_android.txt"))
    assert parsed == pytest.approx({
        "runs": 15, "init_ms": 9.933, "first_ms": 127.425, "warmup_mean_ms": 76.6059,
        "mean_ms": 66.7676, "min_ms": 66.699, "max_ms": 66.838,
        "std_ms": 0.039, "p5_ms": None, "median_ms": None, "p95_ms": None, "peak_rss_mb": None,
        "peak_rss_delta_mb": None})


def test_logcat_line_of_the_android_benchmark_app(shared):
    parsed = parse_benchmark_output(_read(shared, "android_app_logcat_line.txt"))
    assert parsed["init_ms"] == pytest.approx(1007.529)
    assert parsed["first_ms"] == pytest.approx(4.098)
    assert parsed["mean_ms"] == pytest.approx(1.68792)
    assert parsed["runs"] is None and parsed["min_ms"] is None


def test_memory_footprint_delta_is_not_reported_as_a_peak(shared):
    """Both memory lines of the real transcripts ("Memory footprint delta from the start of the tool", and 2020's
    "Peak memory footprint") print ru_maxrss at the end minus ru_maxrss at the tool's start (benchmark_model.cc,
    memory_info.cc): how much the peak grew, not the peak. 260.609 MB of growth used to be reported as peak_rss_mb."""
    delta = _read(shared, "memory_footprint_delta_lines_2024.txt").splitlines()[0]
    text = _read(shared, "recent_cpu_xnnpack_linux_2024.txt") + "\nINFO: " + delta + "\n"
    parsed = parse_benchmark_output(text)
    assert (parsed["peak_rss_mb"], parsed["peak_rss_delta_mb"]) == (None, pytest.approx(260.609))
    old = parse_benchmark_output(_read(shared, "android_adb_shell_2020_peak_memory.txt"))
    assert (old["peak_rss_mb"], old["peak_rss_delta_mb"]) == (None, pytest.approx(12.8672))


def test_periodic_peak_and_percentiles_when_a_build_prints_them(shared):
    text = _read(shared, "recent_cpu_xnnpack_linux_2024.txt").replace(
        "avg=13520.2 std=470", "avg=13520.2 std=470 p5=13200 median=13480 p95=14100")
    text += ("INFO: Memory footprint delta from the start of the tool (MB): init=25.0977 overall=75.5\n"
             "INFO: Overall peak memory footprint (MB) via periodic monitoring: 93.2383\n")
    parsed = parse_benchmark_output(text)
    assert (parsed["p5_ms"], parsed["median_ms"], parsed["p95_ms"]) == pytest.approx((13.2, 13.48, 14.1))
    assert (parsed["peak_rss_mb"], parsed["peak_rss_delta_mb"]) == pytest.approx((93.2383, 75.5))


def test_all_same_stat_line():
    lines = "count=3 curr=1500(all same)\n\ncount=10 curr=1200(all same)\n"
    text = lines + ("Inference timings in us: Init: 800, First inference: 1500, Warmup (avg): 1500, "
                    "Inference (avg): 1200\n")
    parsed = parse_benchmark_output(text)
    assert (parsed["runs"], parsed["min_ms"], parsed["max_ms"], parsed["std_ms"]) == (10, 1.2, 1.2, 0.0)
    # without the timings line, the first inference is the warm-up line's one value
    assert parse_benchmark_output(lines)["first_ms"] == 1.5


def test_one_run_phases_print_no_all_same_marker():
    """tensorflow/core/util/stats_calculator.h prints `count=1 curr=X` for one run: "(all same)" only when count > 1."""
    parsed = parse_benchmark_output("count=1 curr=1500\ncount=1 curr=1200\n")
    assert parsed == pytest.approx({"runs": 1, "init_ms": None, "first_ms": 1.5, "warmup_mean_ms": None,
                                    "mean_ms": 1.2, "min_ms": 1.2, "max_ms": 1.2, "std_ms": 0.0, "p5_ms": None,
                                    "median_ms": None, "p95_ms": None, "peak_rss_mb": None,
                                    "peak_rss_delta_mb": None})


def test_a_transcript_cut_before_its_timings_line(shared):
    """benchmark_model stopped after the timed phase, before its summary: init from the session line, the first
    inference from the warm-up line, the mean from the timed one."""
    text = "".join(line for line in _read(shared, "recent_cpu_xnnpack_linux_2024.txt").splitlines(keepends=True)
                   if "Inference timings in us" not in line)
    parsed = parse_benchmark_output(text)
    assert (parsed["runs"], parsed["init_ms"], parsed["first_ms"], parsed["mean_ms"]) == pytest.approx(
        (74, 12.75, 14.744, 13.5202))


def test_a_summary_without_a_first_inference_leaves_it_unknown():
    parsed = parse_benchmark_output("Inference timings in us: Init: 800, Inference (avg): 1200\n")
    assert (parsed["init_ms"], parsed["first_ms"], parsed["mean_ms"], parsed["runs"]) == (0.8, None, 1.2, None)


def test_output_without_timings_is_rejected():
    with pytest.raises(ValueError, match="^no inference timings in the benchmark_model output$"):
        parse_benchmark_output("INFO: STARTING!\nERROR: Failed to apply GPU delegate.\nERROR: Benchmarking failed.\n")


def test_command_line_per_delegate():
    argv = benchmark_model_args("/data/local/tmp/run", 4, "gpu", 3, 20)
    assert argv == ["/data/local/tmp/run/benchmark_model", "--graph=/data/local/tmp/run/model.tflite", "--num_threads=4",
                    "--use_xnnpack=false", "--use_gpu=true", "--use_nnapi=false", "--warmup_runs=3",
                    "--num_runs=20"]
    assert "--use_xnnpack=true" in benchmark_model_args("g", 1, "xnnpack", 1, 1)
    assert "--use_nnapi=true" in benchmark_model_args("g", 1, "nnapi", 1, 1)

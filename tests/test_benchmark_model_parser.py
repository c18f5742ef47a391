"""benchmark_model's stdout, in every format it has printed, parsed against real transcripts (fixtures SOURCES.md)."""

from __future__ import annotations

import pytest

from mobikit.android.device_bench import benchmark_model_args, parse_benchmark_output

FIXTURES = "fixtures/benchmark_model"


def _read(shared, name: str) -> str:
    return (shared / FIXTURES / name).read_text()


def test_recent_info_prefixed_format(shared):
    parsed = parse_benchmark_output(_read(shared, "recent_cpu_xnnpack_linux_2024.txt"))
    assert parsed == pytest.approx({
        "runs": 74, "init_ms": 12.75, "first_ms": 14.744, "warmup_mean_ms": 13.7643, "mean_ms": 13.5202, "min_ms": 13.105, "max_ms": 15.765,
        "std_ms": 0.47, "p5_ms": None, "median_ms": None, "p95_ms": None, "peak_rss_mb": None})


def test_2020_android_format_with_peak_memory(shared):
    parsed = parse_benchmark_output(_read(shared, "android_adb_shell_2020_peak_memory.txt"))
    assert parsed == pytest.approx({
        "runs": 50, "init_ms": 0.855, "first_ms": 49.06, "warmup_mean_ms": 34.8251, "mean_ms": 33.2094, "min_ms": 32.641, "max_ms": 34.005,
        "std_ms": 0.45, "p5_ms": None, "median_ms": None, "p95_ms": None, "peak_rss_mb": 12.8672})


def test_2019_format_without_first_inference_line(shared):
    parsed = parse_benchmark_output(_read(shared, "old_format_2019_android.txt"))
    assert parsed == pytest.approx({
        "runs": 15, "init_ms": 9.933, "first_ms": 127.425, "warmup_mean_ms": 76.6059, "mean_ms": 66.7676, "min_ms": 66.699, "max_ms": 66.838,
        "std_ms": 0.039, "p5_ms": None, "median_ms": None, "p95_ms": None, "peak_rss_mb": None})


def test_logcat_line_of_the_android_benchmark_app(shared):
    parsed = parse_benchmark_output(_read(shared, "android_app_logcat_line.txt"))
    assert parsed["init_ms"] == pytest.approx(1007.529)
    assert parsed["first_ms"] == pytest.approx(4.098)
    assert parsed["mean_ms"] == pytest.approx(1.68792)
    assert parsed["runs"] is None and parsed["min_ms"] is None


def test_current_memory_delta_wording(shared):
    delta = _read(shared, "memory_footprint_delta_lines_2024.txt").splitlines()[0]
    text = _read(shared, "recent_cpu_xnnpack_linux_2024.txt") + "\nINFO: " + delta + "\n"
    assert parse_benchmark_output(text)["peak_rss_mb"] == pytest.approx(260.609)


def test_periodic_peak_and_percentiles_when_a_build_prints_them(shared):
    text = _read(shared, "recent_cpu_xnnpack_linux_2024.txt").replace(
        "avg=13520.2 std=470", "avg=13520.2 std=470 p5=13200 median=13480 p95=14100")
    text += ("INFO: Memory footprint delta from the start of the tool (MB): init=25.0977 overall=75.5\n"
             "INFO: Overall peak memory footprint (MB) via periodic monitoring: 93.2383\n")
    parsed = parse_benchmark_output(text)
    assert (parsed["p5_ms"], parsed["median_ms"], parsed["p95_ms"]) == pytest.approx((13.2, 13.48, 14.1))
    assert parsed["peak_rss_mb"] == pytest.approx(93.2383)


def test_all_same_stat_line():
    text = ("count=3 curr=1500(all same)\n\ncount=10 curr=1200(all same)\n"
            "Inference timings in us: Init: 800, First inference: 1500, Warmup (avg): 1500, Inference (avg): 1200\n")
    parsed = parse_benchmark_output(text)
    assert (parsed["runs"], parsed["min_ms"], parsed["max_ms"], parsed["std_ms"]) == (10, 1.2, 1.2, 0.0)


def test_output_without_timings_is_rejected():
    with pytest.raises(ValueError, match="no inference timings"):
        parse_benchmark_output("INFO: STARTING!\nERROR: Failed to apply GPU delegate.\nERROR: Benchmarking failed.\n")


def test_command_line_per_delegate():
    argv = benchmark_model_args("/data/local/tmp/m.tflite", 4, "gpu", 3, 20)
    assert argv == ["/data/local/tmp/benchmark_model", "--graph=/data/local/tmp/m.tflite", "--num_threads=4",
                    "--use_xnnpack=false", "--use_gpu=true", "--use_nnapi=false", "--warmup_runs=3",
                    "--num_runs=20"]
    assert "--use_xnnpack=true" in benchmark_model_args("g", 1, "xnnpack", 1, 1)
    assert "--use_nnapi=true" in benchmark_model_args("g", 1, "nnapi", 1, 1)

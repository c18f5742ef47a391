"""Host latency as benchmark_model measures it: settings, model lookup, random inputs and the timing loop, on a tiny
real TFLite model (fast, in-process, TensorFlow never imported: benchmarks/mutation.py runs this file against each
mutant of mobikit.latency). No assert here is a wall-clock limit: counts, orderings and exact bookkeeping only."""

from __future__ import annotations

import os
import resource

import numpy as np
import pytest

from mobikit.errors import UsageError
from mobikit.inference import make_interpreter
from mobikit.latency import (MAX_SECONDS, VERIFY_RUNS, BenchResult, bench_host, check_settings, latency_ms,
                             model_file, peak_rss_mb, random_inputs)

BENCH_KEYS = ["device", "model", "threads", "delegate", "runs", "init_ms", "first_ms", "mean_ms", "median_ms",
              "p5_ms", "p90_ms", "p95_ms", "min_ms", "max_ms", "std_ms", "size_bytes", "peak_rss_mb", "error"]


@pytest.mark.parametrize("settings", [(1, 0, 1, 0.0), (64, 100, 1, MAX_SECONDS), (1, 0, 1, 1e-9)])
def test_settings_at_their_limits_pass(settings):
    check_settings(*settings)


@pytest.mark.parametrize("settings,message", [
    ((0, 0, 1, 1.0), "threads and runs must be >= 1 and warmup >= 0"),
    ((1, 0, 0, 1.0), "threads and runs must be >= 1 and warmup >= 0"),
    ((1, -1, 1, 1.0), "threads and runs must be >= 1 and warmup >= 0"),
    ((1, 0, 1, -0.1), "min_seconds must be between 0 and 3600, got -0.1"),
    ((1, 0, 1, 3600.5), "min_seconds must be between 0 and 3600, got 3600.5"),
    ((1, 0, 1, float("nan")), "min_seconds must be between 0 and 3600, got nan"),
    ((1, 0, 1, float("inf")), "min_seconds must be between 0 and 3600, got inf")])
def test_settings_out_of_range_are_usage_errors(settings, message):
    with pytest.raises(UsageError) as info:
        check_settings(*settings)
    assert str(info.value) == message
    assert MAX_SECONDS == 3600.0


def test_model_file_takes_a_tflite_or_an_output_folder(tiny_kinds, tmp_path):
    assert model_file(tiny_kinds / "int8.tflite") == tiny_kinds / "int8.tflite"
    assert model_file(str(tiny_kinds / "int8.tflite")) == tiny_kinds / "int8.tflite"
    with pytest.raises(UsageError) as info:
        model_file(tmp_path / "nope.tflite")
    assert str(info.value) == f"model {tmp_path / 'nope.tflite'}: no such file or folder"
    with pytest.raises(UsageError) as info:
        model_file(tmp_path, "other")
    assert str(info.value) == f"other {tmp_path} is not a quantize output folder: missing model.tflite, labels.txt, model.json"
    (tmp_path / "m.onnx").write_text("x")
    with pytest.raises(UsageError) as info:
        model_file(tmp_path / "m.onnx", "other")
    assert str(info.value) == f"other must be a .tflite file or a quantize output folder, got {tmp_path / 'm.onnx'}"


@pytest.mark.parametrize("kind,dtype", [("int8", np.int8), ("uint8", np.uint8), ("float32", np.float32)])
def test_random_inputs_cover_the_dtype_and_repeat_with_the_seed(tiny_kinds, kind, dtype):
    interpreter = make_interpreter(tiny_kinds / f"{kind}.tflite", threads=1)
    (value,) = random_inputs(interpreter)
    assert value.dtype == dtype and value.shape == (1, 8, 8, 3)
    if dtype == np.float32:
        assert -1.0 <= value.min() < -0.9 and 0.9 < value.max() <= 1.0  # 192 uniform draws in [-1, 1]
    else:
        info = np.iinfo(dtype)  # the whole range, both ends included (192 draws over 256 values reach near both)
        assert info.min <= value.min() < info.min + 16 and info.max - 16 < value.max() <= info.max
    np.testing.assert_array_equal(random_inputs(interpreter)[0], value)  # seed 0 by default
    assert not np.array_equal(random_inputs(interpreter, seed=1)[0], value)


def test_random_int_inputs_reach_both_ends_of_the_range(tiny_kinds):
    interpreter = make_interpreter(tiny_kinds / "uint8.tflite", threads=1)
    seen = np.concatenate([random_inputs(interpreter, seed)[0].ravel() for seed in range(20)])
    assert seen.min() == 0 and seen.max() == 255  # `endpoint=True`: 255 is drawn too


def test_bench_runs_until_both_the_runs_and_the_seconds(tiny_kinds):
    path = tiny_kinds / "int8.tflite"
    result = bench_host(path, threads=1, delegate="cpu", warmup=0, runs=7, min_seconds=0)
    assert result.runs == 7  # exactly the runs asked for when no minimum time applies
    timed = bench_host(path, threads=2, delegate="xnnpack", warmup=3, runs=5, min_seconds=0.2)
    assert timed.runs > 5  # kept going until 0.2 s had passed: thousands of runs of a model this small
    assert timed.min_ms <= timed.p5_ms <= timed.median_ms <= timed.p90_ms <= timed.p95_ms <= timed.max_ms
    assert timed.min_ms <= timed.mean_ms <= timed.max_ms and timed.std_ms >= 0
    assert (timed.device, timed.model, timed.threads, timed.delegate) == ("host", str(path), 2, "xnnpack")
    assert timed.init_ms > 0 and timed.first_ms > 0 and timed.error is None
    assert timed.size_bytes == path.stat().st_size
    assert 0 < timed.peak_rss_mb <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + 0.05
    assert list(timed.to_json()) == BENCH_KEYS and timed.to_json()["runs"] == timed.runs


def test_bench_checks_its_settings_before_loading(tmp_path):
    with pytest.raises(UsageError, match="threads and runs"):
        bench_host(tmp_path / "nope.tflite", threads=0)


def test_bench_result_json_has_every_key_none_where_not_measured():
    assert BenchResult("phone", "m.tflite").to_json() == {key: None for key in BENCH_KEYS} | {
        "device": "phone", "model": "m.tflite"}


def test_peak_rss_is_the_process_high_water_mark_in_mb():
    for _ in range(5):  # the high-water mark only moves when this process allocates more than ever before
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        value = peak_rss_mb()
        if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss == before:
            break
    assert value == round(before / 1024.0, 1)  # KiB → MiB, one decimal


class Clock:
    """A stand-in for `time` in mobikit.latency: every perf_counter_ns() call is one tick later, so the timing
    loop's arithmetic is checked exactly (a wall-clock test would measure the shared machine). It also notes how many
    threads the process has at each call: the call right after the interpreter is made sees its XNNPACK workers."""

    def __init__(self, tick_ns: int):
        self.tick_ns, self.calls, self.threads = tick_ns, 0, []

    def perf_counter_ns(self) -> int:
        self.threads.append(len(os.listdir("/proc/self/task")))
        self.calls += 1
        return 10**15 + (self.calls - 1) * self.tick_ns  # far from 0, like a real monotonic clock


def _clocked(monkeypatch, tick_ns: int) -> Clock:
    import mobikit.latency

    clock = Clock(tick_ns)
    monkeypatch.setattr(mobikit.latency, "time", clock)
    return clock


def test_the_timing_loop_by_the_tick(tiny_kinds, monkeypatch):
    """Ticks of 0.1 s: init (calls 0→1), first inference (2→3), the deadline read at call 4 is 1.0 s later (tick 14),
    then 3 runs of 2 calls each; the check at tick 11 is before the deadline (one more run, 12→13), the one at 14 is
    not: 4 runs of exactly 100 ms."""
    clock = _clocked(monkeypatch, 10**8)
    result = bench_host(tiny_kinds / "int8.tflite", threads=1, delegate="cpu", warmup=2, runs=3, min_seconds=1.0)
    assert result.runs == 4 and clock.calls == 15
    assert (result.init_ms, result.first_ms, result.mean_ms, result.min_ms, result.max_ms, result.std_ms) == (
        100.0, 100.0, 100.0, 100.0, 100.0, 0.0)


def test_the_documented_defaults_by_the_tick(tiny_kinds, monkeypatch):
    """Ticks of 10 ms: 50 runs take ticks 5–104 and the 1 s minimum ends at tick 104: exactly the 50 default runs,
    on 2 threads (one XNNPACK worker beside this process's threads when the interpreter was made)."""
    clock = _clocked(monkeypatch, 10**7)
    result = bench_host(tiny_kinds / "int8.tflite")
    assert (result.runs, result.threads, result.delegate) == (50, 2, "xnnpack")
    assert clock.threads[1] - clock.threads[0] == 1


@pytest.mark.parametrize("threads,delegate,workers", [(3, "xnnpack", 2), (3, "cpu", 0), (1, "xnnpack", 0)])
def test_bench_makes_the_interpreter_asked_for(tiny_kinds, monkeypatch, threads, delegate, workers):
    clock = _clocked(monkeypatch, 10**7)
    bench_host(tiny_kinds / "int8.tflite", threads=threads, delegate=delegate, warmup=0, runs=1, min_seconds=0)
    assert clock.threads[1] - clock.threads[0] == workers


def test_quantize_measures_latency_with_xnnpack_whatever_the_host_delegate(tiny_kinds, monkeypatch):
    """The latency quantize reports is XNNPACK's, also where MOBIKIT_HOST_DELEGATE picks the reference kernels for
    the predictions (CI's rerun)."""
    monkeypatch.setenv("MOBIKIT_HOST_DELEGATE", "cpu")
    clock = _clocked(monkeypatch, 10**7)
    assert latency_ms((tiny_kinds / "int8.tflite").read_bytes(), threads=3) == 10.0
    assert clock.threads[1] - clock.threads[0] == 2


def test_latency_ms_is_the_median_of_a_verification_bench(tiny_kinds):
    assert VERIFY_RUNS == {"warmup": 5, "runs": 50, "min_seconds": 1.0}
    median = latency_ms((tiny_kinds / "int8.tflite").read_bytes(), threads=1)
    assert isinstance(median, float) and median > 0

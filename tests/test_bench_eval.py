"""`mobikit bench` (methodology, statistics, JSON contract) and `mobikit eval` on real models."""

import json

import numpy as np
import pytest

from mobikit.inference import make_interpreter
from mobikit.latency import bench_host, random_inputs
from mobikit.stats import percentile, summarize

from support import assert_clean_failure, embedded_images, run_cli

BENCH_KEYS = ["device", "model", "threads", "delegate", "runs", "init_ms", "first_ms", "mean_ms", "median_ms",
              "p5_ms", "p90_ms", "p95_ms", "min_ms", "max_ms", "std_ms", "size_bytes", "peak_rss_mb", "error",
              "mobikit_version"]


def test_statistics_rule_matches_numpy():
    rng = np.random.default_rng(1)
    values = rng.exponential(2.0, size=37).tolist()
    stats = summarize(values)
    for q, got in ((5, stats.p5_ms), (50, stats.median_ms), (90, stats.p90_ms), (95, stats.p95_ms)):
        assert got == pytest.approx(np.percentile(values, q))
    assert stats.std_ms == pytest.approx(np.std(values)) and stats.mean_ms == pytest.approx(np.mean(values))
    assert percentile([4.0], 90) == 4.0


def test_bench_runs_until_both_runs_and_seconds(tiny_output):
    result = bench_host(tiny_output, threads=1, warmup=2, runs=5, min_seconds=0.3)
    assert result.runs >= 5 and result.runs * result.mean_ms >= 250
    assert result.min_ms <= result.p5_ms <= result.median_ms <= result.p90_ms <= result.p95_ms <= result.max_ms
    assert result.init_ms > 0 and result.first_ms > 0 and result.size_bytes > 0 and result.error is None
    few = bench_host(tiny_output, threads=1, warmup=0, runs=7, min_seconds=0)
    assert few.runs == 7


def test_random_inputs_are_valid_for_the_dtype(tiny_output):
    interpreter = make_interpreter(tiny_output / "model.tflite")
    (value,) = random_inputs(interpreter)
    assert value.dtype == np.int8 and value.shape == (1, 96, 96, 3) and value.min() < 0 < value.max()


def test_bench_cli_matrix_json(tiny_output):
    result = run_cli("bench", str(tiny_output), "--threads", "1,2", "--delegate", "xnnpack,cpu", "--runs", "3",
                     "--warmup", "1", "--min-seconds", "0", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [list(row) for row in rows] == [BENCH_KEYS] * 4
    assert {(r["threads"], r["delegate"]) for r in rows} == {(1, "xnnpack"), (1, "cpu"), (2, "xnnpack"), (2, "cpu")}
    assert all(r["device"] == "host" and r["runs"] == 3 for r in rows)


def test_eval_tflite_and_keras_agree_on_labels(imagenet_split, tmp_path):
    _, evaluation = imagenet_split
    model = tmp_path / "v1.keras"
    assert run_cli("build", "--alpha", "0.25", "--resolution", "128", "--output", str(model)).returncode == 0
    result = run_cli("eval", str(model), "--data", str(evaluation), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"model", "n", "top1", "top5", "confusions", "seen", "seen_source", "held_out",
                         "mobikit_version"} and data["n"] == 24
    assert (data["seen"], data["seen_source"], data["held_out"]) == (0, "", None)  # built, never trained on these
    assert 0.3 <= data["top1"] <= data["top5"] <= 1.0
    assert all(set(c) == {"true", "predicted", "count"} for c in data["confusions"])


def test_eval_refuses_unlabelled_images_before_classifying_them(tiny_output):
    """A folder without a single label used to be classified image by image, then refused with exit 2."""
    result = run_cli("eval", str(tiny_output), "--data", str(embedded_images()))
    assert_clean_failure(result, 2)
    assert "carries a label" in result.stderr and "evaluating" not in result.stderr, result.stderr

"""The one latency-statistics rule (host bench, device bench, the app's mirror) on values checked by hand (fast,
in-process: benchmarks/mutation.py runs this file against each mutant of mobikit.stats)."""

from __future__ import annotations

import math

import pytest

from mobikit.stats import LatencyStats, percentile, summarize


def test_percentile_interpolates_between_closest_ranks():
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert [percentile(values, q) for q in (0, 5, 25, 50, 90, 95, 100)] == [10.0, 12.0, 20.0, 30.0, 46.0, 48.0, 50.0]
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([4.0], 90) == 4.0  # one value: every percentile is that value
    assert percentile([1.0, 3.0, 7.0], 75) == 5.0  # rank 1.5: halfway between 3 and 7


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="^percentile of no values$"):
        percentile([], 50)


def test_summarize_by_hand():
    stats = summarize([4, 1, 3, 2, 10])  # unsorted ints: sorted and made float
    expected = LatencyStats(runs=5, mean_ms=4.0, median_ms=3.0, p5_ms=1.2, p90_ms=7.6, p95_ms=8.8, min_ms=1.0,
                            max_ms=10.0, std_ms=math.sqrt(10.0))
    assert stats.to_json() == pytest.approx(expected.to_json(), abs=1e-12)
    assert isinstance(stats.runs, int) and all(isinstance(v, float) for v in list(stats.to_json().values())[1:])
    assert list(stats.to_json()) == ["runs", "mean_ms", "median_ms", "p5_ms", "p90_ms", "p95_ms", "min_ms", "max_ms",
                                     "std_ms"]
    assert stats.to_json()["mean_ms"] == 4.0


def test_std_is_the_population_std_and_never_negative():
    assert summarize([2.0, 4.0]).std_ms == 1.0  # population (n), not sample (n - 1): sqrt(2) would be the latter
    same = summarize([0.1] * 7)  # rounding could make the variance a hair below 0
    assert same.std_ms == 0.0 and same.mean_ms == pytest.approx(0.1, abs=1e-15)
    one = summarize([5.5])
    assert (one.runs, one.mean_ms, one.median_ms, one.min_ms, one.max_ms, one.std_ms) == (1, 5.5, 5.5, 5.5, 5.5, 0.0)


def test_mean_is_exactly_rounded():
    # math.fsum: a plain sum of these gives 0.0 instead of 1.0 / 3
    assert summarize([1e16, 1.0, -1e16]).mean_ms == 1.0 / 3

"""The one latency-statistics rule, used by host bench, device bench and (mirrored) the Android app.

Percentiles interpolate linearly between closest ranks (numpy's default); std is the population std, as TFLite's
benchmark_model reports it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) of already sorted values."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = q / 100.0 * (len(sorted_values) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


@dataclass(frozen=True)
class LatencyStats:
    runs: int
    mean_ms: float
    median_ms: float
    p5_ms: float
    p90_ms: float
    p95_ms: float
    min_ms: float
    max_ms: float
    std_ms: float

    def to_json(self) -> dict:
        return asdict(self)


def summarize(latencies_ms: Sequence[float]) -> LatencyStats:
    """Summary statistics of per-run latencies in milliseconds."""
    values = sorted(float(v) for v in latencies_ms)
    n = len(values)
    mean = math.fsum(values) / n
    std = math.sqrt(max(0.0, sum(v * v for v in values) / n - mean * mean))
    return LatencyStats(n, mean, percentile(values, 50), percentile(values, 5), percentile(values, 90),
                        percentile(values, 95), values[0], values[-1], std)

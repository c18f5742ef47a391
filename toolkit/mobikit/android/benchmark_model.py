"""TFLite's benchmark_model on a phone: its command line and its output, in every format it has printed.

The output is parsed against real transcripts (tests/test_benchmark_model_parser.py): the 2019 format, the 2020+
format and `INFO:`-prefixed lines. Fields the tool does not print stay None rather than being guessed.
"""

from __future__ import annotations

import re

BENCHMARK_BINARY, GRAPH = "benchmark_model", "model.tflite"  # their names inside a run's folder on the phone
_DELEGATE_FLAGS = {  # benchmark_model flags per delegate; XNNPACK is off unless asked, so "cpu" is plain kernels
    "cpu": {"use_xnnpack": "false", "use_gpu": "false", "use_nnapi": "false"},
    "xnnpack": {"use_xnnpack": "true", "use_gpu": "false", "use_nnapi": "false"},
    "gpu": {"use_xnnpack": "false", "use_gpu": "true", "use_nnapi": "false"},
    "nnapi": {"use_xnnpack": "false", "use_gpu": "false", "use_nnapi": "true"},
}
_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"


def parse_benchmark_output(text: str) -> dict:
    """benchmark_model stdout → BenchResult fields (ms, MB), for the 2019 format, the 2020+ format and INFO: lines.

    The last `count=` line is the timed phase, the first one the warm-up (its `first=` is the first inference).
    Memory: `peak_rss_mb` is the periodic-monitoring peak (the process's peak RSS), printed only with
    --report_peak_memory_footprint; `peak_rss_delta_mb` is the "overall" figure of the other memory line, whatever
    its wording ("Memory footprint delta from the start of the tool", in 2020 "Peak memory footprint"): both are
    ru_maxrss at the end minus ru_maxrss when the tool started (tensorflow/lite/tools/benchmark/benchmark_model.cc,
    profiling/memory_info.cc), a growth of the peak, not a peak.
    """
    stat_lines, values = [], {}
    for raw in text.splitlines():
        line = re.sub(r"^(INFO|VERBOSE|WARNING|ERROR): ", "", raw.strip())
        if line.startswith("count="):
            stats = {key: float(value) for key, value in re.findall(rf"(\w+)=({_NUMBER})", line)}
            if "(all same)" in line or "min" not in stats:  # "count=N curr=X(all same)"
                same = stats.get("curr", 0.0)
                stats = {"count": stats["count"], "first": same, "min": same, "max": same, "avg": same, "std": 0.0,
                         **{k: v for k, v in stats.items() if k in ("p5", "median", "p95")}}
            stat_lines.append(stats)
            continue
        for label, pattern in (
                ("init_us", rf"\bInit: ({_NUMBER})"),
                ("first_us", rf"First inference: ({_NUMBER})"),
                ("warmup_us", rf"Warmup(?: \(avg\))?: ({_NUMBER})"),
                ("avg_us", rf"(?:Inference \(avg\)|no stats): ({_NUMBER})"),
                ("init_ms", rf"Initialized session in ({_NUMBER}) ?ms"),
                ("peak_periodic", rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUMBER})"),
                ("peak_2020", rf"Peak memory footprint \(MB\): init={_NUMBER} overall=({_NUMBER})"),
                ("delta", rf"Memory footprint delta from the start of the tool \(MB\): init={_NUMBER} "
                          rf"overall=({_NUMBER})")):
            match = re.search(pattern, line)
            if match:
                values.setdefault(label, float(match.group(1)))
    timed = stat_lines[-1] if len(stat_lines) >= 2 else None
    if timed is None and "avg_us" not in values:
        raise ValueError("no inference timings in the benchmark_model output")
    us = 1e-3
    result = {
        "runs": int(timed["count"]) if timed else None,
        "init_ms": values["init_us"] * us if "init_us" in values else values.get("init_ms"),
        "first_ms": (values["first_us"] * us if "first_us" in values
                     else stat_lines[0]["first"] * us if stat_lines else None),
        "warmup_mean_ms": values["warmup_us"] * us if "warmup_us" in values else None,
        "mean_ms": timed["avg"] * us if timed else values["avg_us"] * us,
        "min_ms": timed["min"] * us if timed else None,
        "max_ms": timed["max"] * us if timed else None,
        "std_ms": timed["std"] * us if timed else None,
        "p5_ms": timed["p5"] * us if timed and "p5" in timed else None,
        "median_ms": timed["median"] * us if timed and "median" in timed else None,
        "p95_ms": timed["p95"] * us if timed and "p95" in timed else None,
        "peak_rss_mb": values.get("peak_periodic"),
        "peak_rss_delta_mb": values.get("delta", values.get("peak_2020")),
    }
    return result



def failure_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"error|fail|unable|cannot", line, re.IGNORECASE)]
    return (errors or lines[-1:] or ["no output"])[0]  # the first error names the cause


def benchmark_model_args(folder: str, threads: int, delegate: str, warmup: int, runs: int) -> list[str]:
    """benchmark_model's command line, the binary and the graph being in the run's `folder` on the phone."""
    flags = {"graph": f"{folder}/{GRAPH}", "num_threads": threads, **_DELEGATE_FLAGS[delegate],
             "warmup_runs": warmup, "num_runs": runs}
    return [f"{folder}/{BENCHMARK_BINARY}", *(f"--{key}={value}" for key, value in flags.items())]

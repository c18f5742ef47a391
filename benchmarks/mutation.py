"""Mutation score of the code behind the numbers users read, with mutmut (not in CI; run before resolving).

    nice -n 10 python benchmarks/mutation.py [MODULE ...] [--children N]

For each module of the table, a staging folder is laid out the way mutmut expects a project (`src/mobikit`, a copy
of toolkit/mobikit; `tests/`; a pyproject with the module as the only file to mutate and the module's fast test
selection), mutmut runs there, and the verdict of every mutant is collected. The selections are in-process tests
only: a mutant lives in mutmut's copy of the package, which the CLI subprocesses of the other tests never import,
and TensorFlow-heavy tests would cost minutes per mutant. Results go to benchmarks/results/mutation.{json,md}; a
module run again replaces its own row and keeps the others'. Survivors are listed with their diff; the reason each
is equivalent (or the test added to kill it) is written in docs/testing.md.
"""

from __future__ import annotations

import argparse
from fnmatch import fnmatch
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Target:
    source: str  # below toolkit/
    tests: tuple[str, ...]  # the fast in-process selection
    note: str = ""
    # modules imported once by a fork server that each mutant's worker is forked from; set for tests that run
    # TensorFlow, which must not be forked after it ran (its threads deadlock the child): the server only imports it
    preload: tuple[str, ...] = ()
    timeout_s: float = 1.0  # added to mutmut's 15× the test's measured time (CPU time: TensorFlow's threads add up)
    functions: tuple[str, ...] = ()  # mutmut's mutant-name patterns, where only some functions are in scope


MODULES = {
    "metrics": Target("mobikit/metrics.py", ("tests/test_metrics.py",)),
    "stats": Target("mobikit/stats.py", ("tests/test_stats.py",)),
    "preprocess": Target("mobikit/preprocess.py", ("tests/test_preprocess.py",)),
    "inference": Target("mobikit/inference.py", ("tests/test_inference.py",)),
    "latency": Target("mobikit/latency.py", ("tests/test_latency.py",)),
    # the modes: choosing one, converting in it, reporting a failed conversion (calibrate and requantize run the
    # converter for each mutant: about a minute each on two shared cores, so not in this table)
    "convert": Target("mobikit/convert.py", ("tests/test_convert.py",), preload=("tensorflow",), timeout_s=300.0,
                      functions=("mobikit.convert.x_mode_of__mutmut_*", "mobikit.convert.x_convert__mutmut_*",
                                 "mobikit.convert.x_run_converter__mutmut_*")),
    # the device path's rules that run without a phone: benchmark_model's command line and the parser of what it
    # prints (the app's JSON goes through unchanged, which test_end_to_end.py checks against the phone), and deploy's
    # swap rules; the rest talks to adb and is covered by the device tests, which run the CLI as a subprocess
    "android.device_bench": Target(
        "mobikit/android/device_bench.py", ("tests/test_benchmark_model_parser.py",),
        functions=("mobikit.android.device_bench.x_parse_benchmark_output__mutmut_*",
                   "mobikit.android.device_bench.x_benchmark_model_args__mutmut_*")),
    "android.deploy": Target(
        "mobikit/android/deploy.py",
        ("tests/test_android_device.py::test_the_swap_rules_never_leave_the_phone_without_a_complete_model",),
        functions=("mobikit.android.deploy.x_next_step__mutmut_*", "mobikit.android.deploy.xǁStepǁeffect__mutmut_*",
                   "mobikit.android.deploy.xǁLayoutǁwith_folder__mutmut_*")),
}

# every surviving mutant's diff in one process (`mutmut show` per mutant starts mutmut each time)
_DIFFS = ("import json, sys\nfrom mutmut.mutation.diff_apply import get_diff_for_mutant\n"
          "print(json.dumps({name: get_diff_for_mutant(name) for name in sys.argv[1:]}))")
STATUS = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")


def _pyproject(target: Target) -> str:
    tests = ", ".join(json.dumps(t) for t in target.tests)
    isolation = ('process_isolation = "forkserver"\nforkserver_warmup = "import"\npreload_modules_file = "preload.txt"\n'
                 if target.preload else "")
    return f"""[tool.mutmut]
source_paths = ["src"]
only_mutate = ["src/{target.source}"]
pytest_add_cli_args_test_selection = [{tests}]
pytest_add_cli_args = ["-q", "-p", "no:randomly", "-x"]
timeout_constant = {target.timeout_s}
{isolation}
[tool.pytest.ini_options]
markers = ["slow: slow", "predictions: predictions"]
filterwarnings = ["ignore::UserWarning:keras", "ignore::DeprecationWarning"]
"""


def stage(name: str, target: Target, root: Path) -> Path:
    folder = root / name
    shutil.copytree(ROOT / "toolkit" / "mobikit", folder / "src" / "mobikit",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(ROOT / "tests", folder / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "pyproject.toml").write_text(_pyproject(target))
    (folder / "preload.txt").write_text("".join(f"{module}\n" for module in target.preload))
    return folder


def _mutmut(folder: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if mutmut is None:
        raise SystemExit("mutmut is not installed: pip install 'mutmut>=3.8,<4' (pip install -e '.[mutation]')")
    # the staged tests sit in a scratch folder: they find ../shared (the fixtures, the photos) through the variable
    env = {"MOBIKIT_SHARED": str(ROOT.parent / "shared"), **os.environ, "PYTHONDONTWRITEBYTECODE": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([mutmut, *args], cwd=folder, capture_output=True, text=True, env=env, timeout=timeout)


def run_module(name: str, target: Target, root: Path, children: int, results: Path) -> dict:
    folder = stage(name, target, root)
    start = time.monotonic()
    run = _mutmut(folder, "run", "--max-children", str(children), *target.functions)
    seconds = time.monotonic() - start
    (results / "mutation-logs").mkdir(parents=True, exist_ok=True)
    (results / "mutation-logs" / f"{name}.log").write_text(run.stdout[-20000:] + "\n--- stderr ---\n" +
                                                           run.stderr[-20000:])
    listing = _mutmut(folder, "results", "--all", "true")
    verdicts = {m["name"]: m["status"] for m in (STATUS.match(line) for line in listing.stdout.splitlines())
                if m and (not target.functions or any(fnmatch(m["name"], p) for p in target.functions))}
    counts: dict[str, int] = {}
    for status in verdicts.values():
        counts[status] = counts.get(status, 0) + 1
    alive = sorted(name for name, status in verdicts.items() if status != "killed")
    diffs = json.loads(subprocess.run([sys.executable, "-c", _DIFFS, *alive], cwd=folder, capture_output=True,
                                      text=True, check=True).stdout) if alive else {}
    survivors = [{"mutant": name, "status": verdicts[name],
                  "diff": "\n".join(line for line in diffs[name].splitlines() if line.strip())} for name in alive]
    killed = counts.get("killed", 0)
    total = len(verdicts)
    return {"module": name, "source": f"toolkit/{target.source}", "tests": list(target.tests), "total": total,
            "killed": killed, "counts": counts, "score": round(killed / total, 4) if total else None,
            "seconds": round(seconds, 1), "exit_code": run.returncode, "survivors": survivors,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def markdown(results: dict) -> str:
    lines = ["# Mutation score", "", f"`{results['command']}` on {results['machine']} ({results['date']}); "
             f"mutmut {results['mutmut']}.", "",
             "| module | mutants | killed | score | other verdicts | tests | run time (shared machine) |",
             "|---|---:|---:|---:|---|---|---:|"]
    for name, target in MODULES.items():
        row = results["modules"].get(name)
        if row is None:
            lines.append(f"| {name} | – | – | – | not run: {target.note or 'not run yet'} | – | – |")
            continue
        other = ", ".join(f"{k} {v}" for k, v in sorted(row["counts"].items()) if k != "killed") or "–"
        checked = row["total"] - row["counts"].get("not checked", 0)
        score = f"{100 * row['killed'] / checked:.1f}%" if checked else "–"
        lines.append(f"| {name} | {row['total']} | {row['killed']} | {score} | {other} | "
                     f"{', '.join(Path(t).name for t in row['tests'])} | {row['seconds']:.0f} s |")
    rows = [row for row in results["modules"].values() if row["total"]]
    checked = sum(r["total"] - r["counts"].get("not checked", 0) for r in rows)
    killed = sum(r["killed"] for r in rows)
    if checked:
        lines += ["", f"All run modules: {killed} of {checked} checked mutants killed ({100 * killed / checked:.1f}%); "
                  "the score column is killed / checked as well."]
    lines += ["", "## Surviving mutants", ""]
    for row in results["modules"].values():
        for survivor in row["survivors"]:
            lines += [f"### {survivor['mutant']} ({survivor['status']})", "", "```diff", survivor["diff"], "```", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"modules to run (default: all with tests): {', '.join(MODULES)}")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"results folder (default {RESULTS})")
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}: choose from {', '.join(MODULES)}")
    chosen = args.modules or [name for name, target in MODULES.items() if target.tests]
    args.results.mkdir(parents=True, exist_ok=True)
    store = args.results / "mutation.json"
    from importlib.metadata import PackageNotFoundError, version

    try:
        mutmut_version = version("mutmut")
    except PackageNotFoundError:
        parser.exit(1, "error: mutmut is not installed: pip install -e '.[mutation]' (mutmut>=3.8,<4)\n")
    stamp = dict(command="nice -n 10 python benchmarks/mutation.py " + " ".join(sys.argv[1:]),
                 machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
                 date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), mutmut=mutmut_version)
    with tempfile.TemporaryDirectory(prefix="mobikit-mutation-") as scratch:
        for name in chosen:
            target = MODULES[name]
            if not target.tests:
                print(f"{name}: skipped ({target.note})", file=sys.stderr)
                continue
            print(f"{name}: mutating {target.source} against {', '.join(target.tests)}", file=sys.stderr)
            row = run_module(name, target, Path(scratch), args.children, args.results)
            results = json.loads(store.read_text()) if store.is_file() else {"modules": {}}  # others may have run
            results.update(stamp)
            results["modules"][name] = row
            print(f"{name}: {row['killed']} of {row['total']} killed ({row['counts']}) in {row['seconds']:.0f} s",
                  file=sys.stderr)
            store.write_text(json.dumps(results, indent=1) + "\n")
            (args.results / "mutation.md").write_text(markdown(results))
    if (args.results / "mutation.md").is_file():
        print((args.results / "mutation.md").read_text())


if __name__ == "__main__":
    main()

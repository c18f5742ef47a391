"""The full cross product of the fault harness: every command that writes × every phase boundary it announces ×
every fault (signals INT/TERM/HUP/USR1/ALRM/KILL, closed or broken standard streams, a full disk), each checked
against the five invariants of tests/fault_harness.py. Run before resolving a reliability issue; CI runs a seeded
sample of the same cases (tests/test_fault_cases.py).

    nice -n 5 python benchmarks/fault_matrix.py                       # everything (about 85 min on 2 cores)
    python benchmarks/fault_matrix.py --command quantize --fault TERM  # a slice
    python benchmarks/fault_matrix.py --case train/12/INT             # one case (the reproduction line)

Writes benchmarks/results/fault_matrix.md (one row per case: exit code, whether the fault was delivered, seconds,
the invariants broken) and exits 1 when any case broke one.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fault_harness import COMMANDS, FAULTS, Case, cross_product, run_case  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "fault_matrix.md"


def tiny_output(folder: Path) -> Path:
    """The earlier quantize output every workspace starts from (untrained V1 α0.25@96, as the tests make it)."""
    from mobikit.images import embedded_images
    from mobikit.quantization import QuantizeRequest, quantize

    output = folder / "tiny_int8"
    quantize(QuantizeRequest(alpha=0.25, resolution=96, weights=None, calib=embedded_images(), calib_samples=8,
                             output=output, bias_correction=False))
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", help="command/phase/fault (repeatable)")
    parser.add_argument("--command", choices=sorted(COMMANDS), action="append")
    parser.add_argument("--fault", choices=FAULTS, action="append")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    cases = [Case.parse(text) for text in args.case] if args.case else [
        case for case in cross_product() if (not args.command or case.command in args.command)
        and (not args.fault or case.fault in args.fault)]
    from mobikit.images import embedded_images

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as scratch:
        scratch = Path(scratch)
        tiny = tiny_output(scratch)
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            outcomes = list(pool.map(lambda numbered: run_case(numbered[1], scratch / f"case{numbered[0]}", tiny,
                                                               embedded_images()), enumerate(cases)))
    broken = [o for o in outcomes if o.violations]
    rows = [f"| {o.case.id} | {o.returncode} | {'yes' if o.delivered else 'not reached'} | {o.seconds:.0f} | "
            f"{o.skipped or '; '.join(o.violations) or 'all hold'} |" for o in outcomes]
    text = "\n".join([
        "# Fault matrix", "",
        f"`python benchmarks/fault_matrix.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` on "
        f"{platform.node()} ({platform.machine()}, Python {platform.python_version()}): {len(outcomes)} cases in "
        f"{time.monotonic() - started:.0f} s, {sum(o.delivered for o in outcomes)} with the fault delivered, "
        f"{len(broken)} breaking an invariant.", "",
        "| case | exit | fault | s | invariants |", "|---|---|---|---|---|", *rows, ""])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    for outcome in broken:
        print(outcome.report(seed=0), file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())

"""The generated subprocess cases: a seeded sample of command × phase × fault (tests/fault_harness.py), each run on
the real CLI and checked against every invariant. A new seed per run (printed); MOBIKIT_FAULT_SEED fixes it,
MOBIKIT_FAULT_CASES picks the sample size (a number, default 40) or exact cases (`quantize/3/TERM,build/0/KILL`).
No case starts after MOBIKIT_FAULT_BUDGET seconds (default 300; the rest are skipped, saying so), which keeps the
file within 6 minutes on CI. The full cross product: benchmarks/fault_matrix.py."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from fault_harness import CASES_VARIABLE, Case, run_case, run_seed, sample
from support import embedded_images

SEED = run_seed()
DEFAULT_CASES = 40
BUDGET = float(os.environ.get("MOBIKIT_FAULT_BUDGET", 300))


def chosen_cases() -> list[Case]:
    wanted = os.environ.get(CASES_VARIABLE, "")
    if "/" in wanted:
        return [Case.parse(text) for text in wanted.split(",") if text]
    return sample(SEED, int(wanted or DEFAULT_CASES))


CASES = chosen_cases()


@pytest.fixture(scope="module")
def outcomes(tiny_output, tmp_path_factory):
    """Every chosen case, two at a time (the machine has two cores; most of a case is TensorFlow starting), none
    started after the time budget."""
    photos = embedded_images()
    start = time.monotonic()

    def within_budget(case: Case):
        if time.monotonic() - start > BUDGET:
            return None
        return run_case(case, tmp_path_factory.mktemp("fault"), tiny_output, photos)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case.id: pool.submit(within_budget, case) for case in CASES}
    results = {key: future.result() for key, future in futures.items()}
    ran = [outcome for outcome in results.values() if outcome is not None]
    print(f"\nfault harness: seed {SEED}: {len(ran)} of {len(CASES)} cases in {time.monotonic() - start:.0f} s; "
          f"faults delivered in {sum(o.delivered for o in ran)}")
    return results


def test_the_seed_is_printed_and_the_sample_covers_every_fault(capsys):
    from fault_harness import FAULTS

    print(f"fault harness seed: {SEED}")
    if "/" not in os.environ.get(CASES_VARIABLE, "") and len(CASES) >= len(FAULTS):
        assert {case.fault for case in CASES} == set(FAULTS)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_invariant_holds(case: Case, outcomes):
    outcome = outcomes[case.id]
    if outcome is None:
        pytest.skip(f"not started: the {BUDGET:g} s budget was spent (MOBIKIT_FAULT_BUDGET)")
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    assert not outcome.violations, outcome.report(SEED)

"""The generated subprocess cases: a seeded sample of command × phase × fault (tests/fault_harness.py), each run on
the real CLI and checked against every invariant. A new seed per run (printed); MOBIKIT_FAULT_SEED fixes it,
MOBIKIT_FAULT_CASES picks the sample size (a number, default 36) or exact cases (`quantize/3/TERM,build/0/KILL`).
The full cross product: benchmarks/fault_matrix.py."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from fault_harness import CASES_VARIABLE, Case, run_case, run_seed, sample
from support import embedded_images

SEED = run_seed()
DEFAULT_CASES = 36


def chosen_cases() -> list[Case]:
    wanted = os.environ.get(CASES_VARIABLE, "")
    if "/" in wanted:
        return [Case.parse(text) for text in wanted.split(",") if text]
    return sample(SEED, int(wanted or DEFAULT_CASES))


CASES = chosen_cases()
print(f"\nfault harness: seed {SEED} ({len(CASES)} command x phase x fault cases; "
      f"MOBIKIT_FAULT_SEED={SEED} repeats them)")


@pytest.fixture(scope="module")
def outcomes(tiny_output, tmp_path_factory):
    """Every chosen case, two at a time (the machine has two cores; most of a case is TensorFlow starting)."""
    photos = embedded_images()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case.id: pool.submit(run_case, case, tmp_path_factory.mktemp("fault"), tiny_output, photos)
                   for case in CASES}
    return {key: future.result() for key, future in futures.items()}


def test_the_seed_is_printed_and_the_sample_covers_every_fault(capsys):
    from fault_harness import FAULTS

    print(f"fault harness seed: {SEED}")
    if "/" not in os.environ.get(CASES_VARIABLE, "") and len(CASES) >= len(FAULTS):
        assert {case.fault for case in CASES} == set(FAULTS)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_invariant_holds(case: Case, outcomes):
    outcome = outcomes[case.id]
    assert not outcome.violations, outcome.report(SEED)

"""Random guests never crash, hang or leak a Python exception out of the VMM.

CI runs a few hundred cases; `make fuzz` runs 10,000 (FUZZ_EXAMPLES) and prints how the runs
ended. Each guest runs in real mode with a short timeout, and no run may outlive its timeout by
more than a second.
"""

from __future__ import annotations

import io
import os
import time
from collections import Counter

import pytest
from guest_fuzz import GUESTS, IRQ_GUESTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmm import BootMode, ExitCode, RunEnd, run_flat

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
TIMEOUT = 0.1
FAULT_ENDS = {end for end in RunEnd if end.is_fault}
ENDS = FAULT_ENDS | {RunEnd.HLT, RunEnd.HC_EXIT, RunEnd.TIMEOUT}
OUTCOMES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _print_outcomes():
    yield
    if OUTCOMES:
        total = sum(OUTCOMES.values())
        counts = ", ".join(f"{end} {n}" for end, n in OUTCOMES.most_common())
        print(f"\nfuzz: {total} guests: {counts}")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 1000,
          suppress_health_check=list(HealthCheck))
@given(code=GUESTS)
def test_random_real_mode_guest_ends_in_a_documented_way(backend: str, code: bytes) -> None:
    run_real_mode_guest(code)


def run_real_mode_guest(code: bytes) -> None:
    start = time.monotonic()
    r = run_flat(code, mode=BootMode.REAL, mem_size=1 << 20, timeout=TIMEOUT,
                 output=io.BytesIO(), input=io.BytesIO(b"fuzz"))
    elapsed = time.monotonic() - start
    OUTCOMES[r.end] += 1
    assert r.end in ENDS
    assert elapsed < TIMEOUT + 1.0
    if r.end in FAULT_ENDS:
        assert r.exit_code == ExitCode.GUEST_FAULT and r.fault and r.register_dump


@settings(max_examples=max(EXAMPLES // 5, 10), deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(code=st.binary(min_size=1, max_size=64),
       mode=st.sampled_from([BootMode.PROTECTED, BootMode.LONG]))
def test_random_code_in_protected_and_long_mode_ends_cleanly(backend: str, code: bytes,
                                                             mode: BootMode) -> None:
    r = run_flat(code, mode=mode, mem_size=1 << 20, timeout=TIMEOUT, output=io.BytesIO())
    OUTCOMES[r.end] += 1
    assert r.end in ENDS
    if r.end in FAULT_ENDS:
        assert r.exit_code == ExitCode.GUEST_FAULT and r.fault and r.register_dump


@settings(max_examples=max(EXAMPLES // 3, 10), deadline=None, derandomize=EXAMPLES <= 1000,
          suppress_health_check=list(HealthCheck))
@given(code=IRQ_GUESTS)
def test_random_guests_playing_with_interrupts_end_in_a_documented_way(backend: str,
                                                                      code: bytes) -> None:
    run_real_mode_guest(code)

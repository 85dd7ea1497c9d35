"""Random guest code never crashes, hangs or leaks a Python exception out of the VMM."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmm import BootMode, ExitCode, run_flat
from vmm.outcome import FAULT_ENDS

ENDS = FAULT_ENDS | {"hlt", "hc_exit", "timeout"}


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    code=st.binary(min_size=1, max_size=64),
    mode=st.sampled_from([BootMode.REAL, BootMode.PROTECTED, BootMode.LONG]),
)
def test_random_guest_code_ends_cleanly(kvm: str, code: bytes, mode: BootMode) -> None:
    r = run_flat(code, mode=mode, mem_size=1 << 20, timeout=0.2, output=io.BytesIO())
    assert r.end in ENDS
    if r.end in FAULT_ENDS:
        assert r.exit_code == ExitCode.GUEST_FAULT and r.fault and r.register_dump

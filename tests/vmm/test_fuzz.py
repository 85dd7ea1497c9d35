"""Random guests never crash, hang or leak a Python exception out of the VMM.

CI runs a few hundred cases; `make fuzz` runs 10,000 (FUZZ_EXAMPLES) and prints how the runs
ended. Each guest runs in real mode with a short timeout, and no run may outlive its timeout by
more than a second.
"""

from __future__ import annotations

import io
import os
import struct
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmm import BootMode, ExitCode, RunEnd, run_flat

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
TIMEOUT = 0.1
FAULT_ENDS = {end for end in RunEnd if end.is_fault}
ENDS = FAULT_ENDS | {RunEnd.HLT, RunEnd.HC_EXIT, RunEnd.TIMEOUT}
OUTCOMES: Counter[str] = Counter()

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)

# Real-mode instruction snippets a hostile or confused guest might run.
SNIPPETS = st.one_of(
    st.builds(lambda p: b"\xba" + struct.pack("<H", p) + b"\xee", u16),  # out %al,(%dx)
    st.builds(lambda p: b"\xba" + struct.pack("<H", p) + b"\xec", u16),  # in (%dx),%al
    st.builds(lambda p, s: b"\xba" + struct.pack("<H", p) + bytes([0xEF if s else 0xED]),
              u16, st.booleans()),  # 16-bit in/out
    st.builds(lambda fn, arg: b"\xbb" + struct.pack("<H", arg) + bytes([0xB0, fn])
              + b"\xba\x00\x05\xee", st.integers(0, 9), u16),  # hypercall AL=fn, BX=arg
    st.builds(lambda o, s: b"\xea" + struct.pack("<HH", o, s), u16, u16),  # ljmp $s,$o
    st.builds(lambda a, v: b"\xc6\x06" + struct.pack("<HB", a, v), u16, u8),  # movb $v,addr
    st.builds(lambda n, o: b"\xb9" + struct.pack("<H", n) + b"\xbe" + struct.pack("<H", o)
              + b"\xba\xf8\x03\xf3\x6e", st.integers(0, 64), u16),  # rep outsb to the UART
    st.builds(lambda v: bytes([0xCD, v]), u8),  # int $v
    st.sampled_from([
        b"\xfa", b"\xfb", b"\xf4", b"\x0f\x0b", b"\x0f\x30", b"\x0f\x32", b"\xcf", b"\xcc",
        b"\x0f\x20\xc0\x66\x83\xc8\x01\x0f\x22\xc0",  # set CR0.PE without a GDT
        b"\x0f\x01\x16\x00\x00",  # lgdt 0
        b"\x8e\xd8", b"\x8e\xd0",  # mov %ax,%ds / %ss
        b"\xeb\xfe",  # jmp .
        b"\x0f\x22\xd8",  # mov %eax,%cr3
    ]),
    st.binary(min_size=1, max_size=8),
)
GUESTS = st.one_of(
    st.binary(min_size=1, max_size=64),
    st.lists(SNIPPETS, min_size=1, max_size=12).map(b"".join),
)


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

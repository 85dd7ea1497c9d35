"""Everything a guest can do wrong ends as a clean result: no hang, no traceback."""

from __future__ import annotations

import io
import os
import signal
import threading
import time

import pytest
from gnu_guests import CMPXCHG16B

from vmm import BootMode, ExitCode, RunEnd, run_flat

JMP_SELF = b"\xeb\xfe"


def test_jmp_self_times_out(backend: str) -> None:
    t0 = time.monotonic()
    r = run_flat(JMP_SELF, timeout=0.5, output=io.BytesIO())
    elapsed = time.monotonic() - t0
    assert r.end is RunEnd.TIMEOUT and r.exit_code == ExitCode.TIMEOUT == 124
    assert 0.5 <= elapsed < 1.5
    assert r.rip == 0x1000 and "CS:IP 0000:1000" in r.fault
    assert r.stats.end is RunEnd.TIMEOUT and r.stats.exits_by_reason.get("intr") == 1


@pytest.mark.parametrize("mode", [BootMode.PROTECTED, BootMode.LONG])
def test_timeout_in_a_worker_thread(backend: str, mode: BootMode) -> None:
    """The kick signal has a C-level handler, so it works off the main thread too."""
    results = []
    worker = threading.Thread(
        target=lambda: results.append(run_flat(JMP_SELF, mode=mode, timeout=0.3, output=None))
    )
    t0 = time.monotonic()
    worker.start()
    worker.join(5)
    assert not worker.is_alive()
    assert time.monotonic() - t0 < 1.3
    assert results[0].end is RunEnd.TIMEOUT and results[0].rip == 0x1000


def test_timeout_while_guest_keeps_exiting(backend: str) -> None:
    src = bytes.fromhex("ba0005" "b001" "b341" "ee" "ebf9")  # mov dx,0x500; putchar loop
    out = io.BytesIO()
    r = run_flat(src, timeout=0.3, output=out)
    assert r.end is RunEnd.TIMEOUT and r.stats.total_exits > 100
    assert len(out.getvalue()) == r.stats.exits_by_port[0x500]


def test_ctrl_c_ends_interrupted(backend: str) -> None:
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    before = signal.getsignal(signal.SIGINT)
    timer.start()
    try:
        r = run_flat(JMP_SELF, timeout=5, output=io.BytesIO())
    finally:
        timer.cancel()
    assert r.end is RunEnd.INTERRUPTED and r.exit_code == ExitCode.INTERRUPTED == 130
    assert r.stats.guest_wall_s < 2
    assert signal.getsignal(signal.SIGINT) is before


# lidt of a zero-limit IDT at 0x3000 (zero RAM): the guest replaces the default IDT
LIDT_EMPTY_32 = bytes.fromhex("0f011d00300000")


def test_triple_fault_is_a_shutdown_fault_with_register_dump(backend: str) -> None:
    r = run_flat(LIDT_EMPTY_32 + b"\x90\x0f\x0b", mode=BootMode.PROTECTED,
                 output=io.BytesIO())  # lidt; nop; ud2
    assert r.end is RunEnd.SHUTDOWN and r.exit_code == ExitCode.GUEST_FAULT == 120
    assert "triple fault" in r.fault and "RIP 0x1008" in r.fault
    assert "cr0 00000011" in r.register_dump and " cs sel 0008" in r.register_dump
    assert r.stats.exits_by_reason == {"shutdown": 1}


@pytest.mark.parametrize(
    ("mode", "code", "direction", "size", "rip"),
    [
        (BootMode.PROTECTED, "a100000010", "read", 4, 0x1000),  # mov eax, [0x10000000]
        # A write exits after KVM completed the instruction: RIP is past it.
        (BootMode.PROTECTED, "c60500000010ff", "write", 1, 0x1007),  # mov byte [...], 0xff
        (BootMode.LONG, "be00000010" "48891e", "write", 8, 0x1008),  # mov esi,..; mov [rsi],rbx
    ],
)
def test_mmio_outside_ram_is_a_fault(
    backend: str, mode: BootMode, code: str, direction: str, size: int, rip: int
) -> None:
    r = run_flat(bytes.fromhex(code) + b"\xf4", mode=mode, output=io.BytesIO())
    assert r.end is RunEnd.MMIO and r.exit_code == ExitCode.GUEST_FAULT
    assert f"{size}-byte {direction} at guest-physical 0x10000000" in r.fault
    assert "not RAM" in r.fault and f"RIP {rip:#x}" in r.fault


def test_emulation_failure_reports_instruction_bytes(kvm: str, asm) -> None:
    """kvm-pvm emulates ring-0 code and lacks cmpxchg16b; with VT-x/SVM it simply runs."""
    r = run_flat(asm(CMPXCHG16B), mode=BootMode.LONG, output=io.BytesIO(), backend="kvm")
    if r.end is RunEnd.HLT:
        pytest.skip("this KVM executes cmpxchg16b in the guest (no emulation failure to test)")
    assert r.end is RunEnd.INTERNAL_ERROR and r.exit_code == ExitCode.GUEST_FAULT
    assert "emulation failure" in r.fault and "RIP 0x1007" in r.fault
    assert "instruction bytes: f0 48 0f c7 0e f4" in r.fault


def test_guest_code_running_off_the_end_of_ram(backend: str) -> None:
    """jmp to the last byte of RAM; the fetch past it must end cleanly (fault or timeout)."""
    code = bytes.fromhex("b8fcff0f00" "ffe0")  # mov eax, 0xffffc; jmp eax (1 MiB RAM)
    r = run_flat(code, mode=BootMode.PROTECTED, mem_size=1 << 20, timeout=2, output=None)
    assert r.end in (RunEnd.MMIO, RunEnd.SHUTDOWN, RunEnd.INTERNAL_ERROR, RunEnd.TIMEOUT)
    assert r.exit_code in (ExitCode.GUEST_FAULT, ExitCode.TIMEOUT)

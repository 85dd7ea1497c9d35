"""Minimal guests through the public API: exits, output, exit codes, stats."""

from __future__ import annotations

import io

import pytest

from vmm import BootMode, ExitCode, Machine, RunEnd, run_flat
from vmm.stats import STATS_KEYS

HELLO_REAL = """
.code16
    mov dx, 0x3f8
    mov si, offset msg
1:  lodsb
    test al, al
    jz 2f
    out dx, al
    jmp 1b
2:  hlt
msg: .asciz "Hello, KVM!\\n"
"""


def test_hlt_is_one_exit(backend: str) -> None:
    out = io.BytesIO()
    r = run_flat(b"\xf4", output=out)
    assert (r.end, r.status, r.exit_code) == (RunEnd.HLT, 0, ExitCode.OK)
    assert r.stats.total_exits == 1
    assert r.stats.exits_by_reason == {"hlt": 1}
    assert r.fault is None and out.getvalue() == b""


def test_hello_via_uart(backend: str, asm) -> None:
    out = io.BytesIO()
    r = run_flat(asm(HELLO_REAL), output=out)
    assert out.getvalue() == b"Hello, KVM!\n"
    assert r.end is RunEnd.HLT
    assert r.stats.total_exits == 13
    d = r.stats.to_dict()
    assert d["exits_by_reason"] == {"io": 12, "hlt": 1}
    assert d["exits_by_port"] == {"0x3f8": 12}
    assert d["end"] == "hlt"


def test_counter(backend: str, asm) -> None:
    out = io.BytesIO()
    src = """
.code16
    mov dx, 0x3f8
    mov al, '0'
1:  out dx, al
    inc al
    cmp al, '9'
    jbe 1b
    hlt
"""
    r = run_flat(asm(src), output=out)
    assert out.getvalue() == b"0123456789"
    assert r.stats.total_exits == 11


def test_stats_dict_has_exactly_the_documented_keys(backend: str) -> None:
    r = run_flat(b"\xf4", output=io.BytesIO())
    d = r.stats.to_dict()
    assert tuple(d) == STATS_KEYS
    assert d["total_exits"] == 1 and d["guest_wall_s"] >= 0 and d["us_per_exit"] >= 0
    assert "end: hlt" in r.stats.format_text()


def test_rep_outsb_string_io(backend: str, asm) -> None:
    out = io.BytesIO()
    src = """
.code16
    cld
    mov si, offset msg
    mov cx, 12
    mov dx, 0x3f8
    rep outsb
    hlt
msg: .ascii "Hello, KVM!\\n"
"""
    r = run_flat(asm(src), output=out)
    assert out.getvalue() == b"Hello, KVM!\n"
    assert r.end is RunEnd.HLT
    assert 2 <= r.stats.total_exits <= 13  # KVM may batch the repetitions into fewer exits


def test_rep_outsw_splits_by_access_size(backend: str, asm) -> None:
    """Each 16-bit repetition writes AL to 0x3f8 and AH to 0x3f9 (IER latch), like hardware."""
    out = io.BytesIO()
    src = """
.code16
    cld
    mov si, offset msg
    mov cx, 3
    mov dx, 0x3f8
    rep outsw
    hlt
msg: .ascii "AxBxCx"
"""
    r = run_flat(asm(src), output=out)
    assert out.getvalue() == b"ABC"
    assert r.end is RunEnd.HLT


def test_machine_context_manager_and_load(backend: str, asm) -> None:
    out = io.BytesIO()
    with Machine(mem_size=1 << 20, output=out) as m:
        m.load_flat(asm(HELLO_REAL), 0x1000)
        r = m.run(entry=0x1000, mode=BootMode.REAL, timeout=10.0, strict=True)
    assert r.end is RunEnd.HLT and out.getvalue() == b"Hello, KVM!\n"
    assert m.memory is None  # released


def test_output_sink_is_streamed_in_bounded_chunks(backend: str, asm) -> None:
    class Sink(io.RawIOBase):
        def __init__(self) -> None:
            self.writes: list[int] = []

        def writable(self) -> bool:
            return True

        def write(self, b) -> int:  # noqa: ANN001
            self.writes.append(len(b))
            return len(b)

    src = """
.code16
    cld
    mov si, 0x2000
    mov cx, 20000
    mov dx, 0x3f8
    rep outsb
    hlt
"""
    sink = Sink()
    r = run_flat(asm(src), output=sink, mem_size=1 << 20)
    assert r.end is RunEnd.HLT
    assert sum(sink.writes) == 20000
    assert len(sink.writes) > 1 and max(sink.writes) < 20000


@pytest.mark.parametrize("port", [0x80, 0x1234])
def test_unowned_port_is_counted_then_fatal_when_strict(backend: str, asm, port: int) -> None:
    src = f"""
.code16
    mov dx, {port:#x}
    mov al, 1
    out dx, al
    in al, dx
    mov bl, al
    mov al, 0
    mov dx, 0x500
    out dx, al
"""
    out = io.BytesIO()
    r = run_flat(asm(src), output=out)
    assert r.end is RunEnd.HC_EXIT and r.status == 0xFF  # unowned reads return all ones
    assert r.stats.to_dict()["exits_by_port"][f"{port:#x}"] == 2
    r = run_flat(asm(src), output=out, strict=True)
    assert r.end is RunEnd.UNOWNED_PORT and r.exit_code == ExitCode.GUEST_FAULT
    assert f"{port:#x}" in r.fault and "CS:IP 0000:" in r.fault
    assert r.register_dump and "rip" in r.register_dump

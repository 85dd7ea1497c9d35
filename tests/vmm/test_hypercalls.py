"""The hypercall ABI at port 0x500, with argument widths following the mode at the call."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from gnu_guests import HC

from vmm import HYPERCALLS, BootMode, ExitCode, RunEnd, run_flat


def test_putchar_putnum_newline_exit(backend: str, asm) -> None:
    src = HC + """
.code16
    mov bl, 'A'
    hc 1
    mov bx, 1234
    hc 2
    hc 3
    mov bx, 42
    hc 0
"""
    out = io.BytesIO()
    r = run_flat(asm(src), output=out)
    assert out.getvalue() == b"A1234\n"
    assert (r.end, r.status, r.exit_code) == (RunEnd.HC_EXIT, 42, 42)
    assert r.stats.total_exits == 4
    assert r.stats.to_dict()["exits_by_port"] == {"0x500": 4}
    assert r.stats.exits_by_reason == {"io": 4}


def test_exit_status_is_truncated_to_a_byte_for_the_process(backend: str, asm) -> None:
    r = run_flat(asm(HC + ".code16\n mov bx, 300\n hc 0\n"), output=io.BytesIO())
    assert r.status == 300 and r.exit_code == 300 & 0xFF


def test_putnum_65535_in_real_mode_uses_bx_only(backend: str, asm) -> None:
    src = HC + """
.code16
    mov ebx, 0x1234ffff
    hc 2
    hlt
"""
    out = io.BytesIO()
    r = run_flat(asm(src), output=out)
    assert out.getvalue() == b"65535"
    assert r.end is RunEnd.HLT and r.stats.total_exits == 2


def test_unknown_hypercall_is_a_fault_with_location(backend: str, asm) -> None:
    src = HC + ".code16\n nop\n hc 9\n hlt\n"
    r = run_flat(asm(src), output=io.BytesIO())
    assert r.end is RunEnd.BAD_HYPERCALL and r.exit_code == ExitCode.GUEST_FAULT
    assert "unknown hypercall 9" in r.fault and "0x500" in r.fault
    assert "CS:IP 0000:1007" in r.fault  # after `nop; mov al,9; mov dx,0x500; out dx,al`
    assert "rip 0x0000000000001007" in r.register_dump


def test_getchar_reads_input_then_minus_one(backend: str, asm) -> None:
    src = HC + """
.code16
1:  hc 4
    cmp ax, 0xffff
    je 2f
    mov bl, al
    add bl, 1
    hc 1
    jmp 1b
2:  mov bx, ax
    hc 2
    hlt
"""
    out = io.BytesIO()
    r = run_flat(asm(src), output=out, input=io.BytesIO(b"HAL"))
    assert out.getvalue() == b"IBM65535"
    assert r.end is RunEnd.HLT


def test_getchar_without_input_is_end_of_input(backend: str, asm) -> None:
    src = HC + ".code32\n mov eax, 0x12345678\n hc 4\n mov ebx, eax\n hc 2\n hlt\n"
    out = io.BytesIO()
    run_flat(asm(src), mode=BootMode.PROTECTED, output=out)
    assert out.getvalue() == b"4294967295"


def test_write_and_puts_from_guest_memory(backend: str, asm) -> None:
    src = HC + """
.code16
    mov bx, offset msg
    mov cx, 5
    hc 5
    mov bx, offset msg
    hc 6
    hlt
msg: .asciz "Hello, world"
"""
    out = io.BytesIO()
    r = run_flat(asm(src), output=out)
    assert out.getvalue() == b"HelloHello, world"
    assert r.end is RunEnd.HLT


def test_write_uses_ds_in_real_mode(backend: str, asm) -> None:
    src = HC + """
.code16
    mov ax, 0x100
    mov ds, ax
    mov bx, 0x1000 + offset msg - 0x1000 - 0x1000
    mov cx, 2
    hc 5
    hlt
msg: .ascii "OK"
"""
    out = io.BytesIO()
    run_flat(asm(src), output=out)
    assert out.getvalue() == b"OK"


@pytest.mark.parametrize(
    ("mode", "setup"),
    [
        (BootMode.PROTECTED, ".code32\n mov ebx, 0xfffff000\n mov ecx, 0x2000\n"),
        (BootMode.LONG, ".code64\n movabs rbx, 0x100000000000\n mov ecx, 16\n"),
        (BootMode.LONG, ".code64\n mov ebx, 0x1000\n mov rcx, -1\n"),
    ],
)
def test_bad_pointer_is_a_guest_fault(backend: str, asm, mode: BootMode, setup: str) -> None:
    out = io.BytesIO()
    r = run_flat(asm(HC + setup + " hc 5\n hlt\n"), mode=mode, output=out)
    assert r.end is RunEnd.BAD_POINTER and r.exit_code == ExitCode.GUEST_FAULT
    assert "bad pointer" in r.fault and "RIP" in r.fault
    assert out.getvalue() == b""  # nothing half-printed


def test_puts_without_nul_before_end_of_ram(backend: str, asm) -> None:
    src = HC + """
.code32
    mov edi, 0xff000
    mov ecx, 0x1000
    mov al, 'x'
    rep stosb
    mov ebx, 0xff000
    hc 6
    hlt
"""
    r = run_flat(asm(src), mode=BootMode.PROTECTED, mem_size=1 << 20, output=io.BytesIO())
    assert r.end is RunEnd.BAD_POINTER


def test_abi_table_numbers_are_fixed() -> None:
    assert [(h.number, h.name) for h in HYPERCALLS] == [
        (0, "EXIT"),
        (1, "PUTCHAR"),
        (2, "PUTNUM"),
        (3, "NEWLINE"),
        (4, "GETCHAR"),
        (5, "WRITE"),
        (6, "PUTS"),
        (7, "CPU_ID"),
    ]


def test_header_and_readme_define_the_same_numbers_as_the_table() -> None:
    root = Path(__file__).resolve().parents[2]
    header = (root / "kasm" / "include" / "hypercall.h").read_text()
    equs = dict(re.findall(r"^\.equ (HC_\w+),\s*(\d+)", header, re.M))
    readme = (root / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| `(HC_\w+)` \|", readme, re.M))
    table = {f"HC_{h.name}": str(h.number) for h in HYPERCALLS}
    assert equs == table
    assert {name: number for number, name in rows.items()} == table
    for h in HYPERCALLS:  # and every function has its macro
        assert re.search(rf"^\.macro hc_{h.name.lower()}\b", header, re.M), h.name

"""What a fault or a runaway says, on both backends: the exception by name through the default
IDT, the faulting instruction disassembled at its source line (file:line:col and a caret),
where a guest that left its code went wrong, a hypercall port written by anything but
`outb %al, (%dx)`, and -v's registers at every end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DIV = """\
{code}
.globl _start
_start:
    mov $7, %eax
    xor %edx, %edx
    xor %ecx, %ecx
    divl %ecx
    hlt
"""
BIOS = """\
.code16
_start:
    mov $0x0e, %ah
    mov $'A', %al
    int $0x10
    hlt
"""
NO_HLT = """\
#include <hypercall.h>
.code16
_start:
    hc_print "hi\\n"
    mov $0x500, %dx
msg: .ascii "Hello"
"""


def kasm_run(tmp_path: Path, source: str, *options: str) -> subprocess.CompletedProcess:
    (tmp_path / "t.S").write_text(source)
    return subprocess.run([sys.executable, "-m", "kasm", "run", *options, "t.S"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("code", "rip"), [(".code32", "RIP 0x1009"),
                                           (".code64", "RIP 0x1009")])
def test_a_divide_error_is_named_at_its_source_line(backend: str, tmp_path: Path, code: str,
                                                    rip: str):
    r = kasm_run(tmp_path, DIV.format(code=code), "--backend", backend)
    assert r.returncode == 120
    assert r.stderr.startswith(f"kasm: guest fault: divide error (#DE) at {rip}\n"
                               "t.S:7:5: the faulting instruction: divl %ecx (f7 f1)\n"
                               "     divl %ecx\n     ^\n")
    assert f"rip 0x{int(rip.split()[1], 16):016x}" in r.stderr  # the dump is at the fault


def test_a_real_mode_int_without_bios_says_where_the_guest_went(backend: str,
                                                                tmp_path: Path):
    r = kasm_run(tmp_path, BIOS, "--backend", backend, "--timeout", "0.5")
    assert r.returncode == 124
    assert "the guest is running zeroed memory below its program, most likely from " \
           "0000:0000 on: an `int` through an empty interrupt vector?" in r.stderr


def test_falling_into_data_is_not_a_clean_hypercall(backend: str, tmp_path: Path):
    r = kasm_run(tmp_path, NO_HLT, "--backend", backend)
    assert (r.returncode, r.stdout) == (120, "hi\n")
    assert r.stderr.startswith(
        "kasm: guest fault: outsw to the hypercall port 0x500: a hypercall is one "
        "`outb %al, (%dx)` at CS:IP 0000:1014\n"
        "the faulting instruction (0x1013, msg+0x4): outsw (%si), %dx (6f)\n"
        "the guest is running data in .text (msg+0x4), not code; its code ends at t.S:5 "
        "(mov $0x500, %dx): a missing hlt or hc_exit?\n")


@pytest.mark.parametrize(("instruction", "what"), [
    ("outw %ax, (%dx)", "outw %ax, (%dx)"), ("outl %eax, (%dx)", "outl %eax, (%dx)"),
    ("outsb", "outsb"), ("outsl", "outsl")])
def test_the_hypercall_port_takes_only_outb(backend: str, tmp_path: Path, instruction: str,
                                            what: str):
    r = kasm_run(tmp_path, f".code16\n_start: mov $0x500, %dx\n {instruction}\n hlt\n",
                 "--backend", backend)
    assert r.returncode == 120
    assert r.stderr.startswith(f"kasm: guest fault: {what} to the hypercall port 0x500")
    assert "t.S:3:2: the faulting instruction: " in r.stderr


def test_verbose_prints_the_registers_at_every_end_and_what_changed_last(backend: str,
                                                                         tmp_path: Path):
    r = kasm_run(tmp_path, ".code16\n_start: mov $0x1234, %bx\n hlt\n", "-v",
                 "--backend", backend)
    assert r.returncode == 0
    assert r.stderr.startswith("kasm: the guest ended: hlt\nmode real  rip 0x0000000000001004")
    assert "rbx 0000000000001234" in r.stderr
    assert r.stderr.endswith("changed last: since the exit before (at 0000:1000): "
                             "bx=1234\n")
    traced = kasm_run(tmp_path, ".code16\n_start: mov $0x1234, %bx\n hlt\n", "-v",
                      "--trace=t.txt", "--backend", backend)
    assert traced.stderr.endswith("changed last: hlt at t.S:3: none\n")

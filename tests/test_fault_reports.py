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


@pytest.mark.parametrize(("code", "options", "end"), [
    ("0x0b0f", (), "kasm: guest fault: invalid opcode (#UD) at RIP 0x100a\n"
                   "the faulting instruction (0x100a): ud2 (0f 0b)\n"),
    ("0xfeeb", ("--timeout", "0.5"), "kasm: timeout: the guest ran past 0.5 s; it was at RIP "
                                     "0x100a\nwhere it was stopped (0x100a): jmp 0x100a "
                                     "(eb fe)\n")])
def test_a_guest_that_ran_past_its_code_is_told_so_whatever_the_end(
        backend: str, tmp_path: Path, code: str, options: tuple[str, ...], end: str):
    """Past the program, in bytes that are not zeros (here the guest's own)."""
    r = kasm_run(tmp_path, f".code32\n_start:\n    movw ${code}, after\n    nop\nafter:\n",
                 "--backend", backend, *options)
    assert r.stderr.startswith(end + "the guest ran past the end of its program; its code ends "
                               "at t.S:4 (nop): a missing hlt or hc_exit?\n")


@pytest.mark.parametrize("backend", ["kvm"], indirect=True)
def test_hello_without_its_hlt_is_told_it_ran_past_its_code(backend: str, tmp_path: Path):
    """KVM here stops at bytes the guest wrote past its data (an x87 instruction its emulator
    lacks). (The emulator runs those and on into zeroed memory, where it is when the timeout
    comes depends on the machine's speed: the IP wraps to 0000:0000.)"""
    hello = (Path(__file__).parent.parent / "examples" / "hello.S").read_text()
    r = kasm_run(tmp_path, hello.replace("    hlt\n", ""), "--backend", backend,
                 "--timeout", "5")
    assert r.returncode == 120
    assert "\nthe guest ran past the end of its program; " in r.stderr
    assert "its code ends at t.S:13 (jmp print_loop): a missing hlt or hc_exit?\n" in r.stderr


def test_code_at_an_unmapped_address_is_said_to_be_unmapped(backend: str, tmp_path: Path):
    from vmm.modes import SystemLayout

    pd = SystemLayout.for_memory(2 << 20).pd  # the boot tables' first PD: 2 MiB pages
    r = kasm_run(tmp_path, f".code64\n_start:\n    movq $0, {pd + 2 * 8:#x}\n"
                 "    mov %cr3, %rax\n    mov %rax, %cr3\n    mov $0x400000, %rax\n"
                 "    jmp *%rax\n", "--backend", backend)
    assert r.returncode == 120
    assert r.stderr.startswith("kasm: guest fault: page fault (#PF), error code 0x0 (page not "
                               "present, read) at RIP 0x400000\nthe faulting instruction "
                               "(0x400000): (no instruction: its address 0x400000 is not mapped "
                               "by the guest's page tables)\nmode long ")


@pytest.mark.parametrize("backend", ["emu"], indirect=True)
def test_paging_without_page_tables_is_not_called_outside_ram(backend: str, tmp_path: Path):
    """The emulator's triple fault at the `hlt` after CR0.PG is set over zeroed tables (KVM
    here refuses paging outside long mode: a #GP at the mov to CR0)."""
    r = kasm_run(tmp_path, ".code32\n_start:\n    mov %cr0, %eax\n    or $0x80000000, %eax\n"
                 "    mov %eax, %cr0\n    hlt\n", "--backend", "emu")
    assert r.stderr.splitlines()[1] == ("t.S:6:5: the faulting instruction: (no instruction: "
                                        "its address 0x100b is not mapped by the guest's page "
                                        "tables)")


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

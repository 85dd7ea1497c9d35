"""Debian's gdb, in batch mode over a real socket, against the GDB stub on the toy vCPU
(tests/support/toy_cpu.py: real instructions, real guest memory and page tables, the guest
debugging interface as the backends will give it). What gdb prints is what is checked."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from gdb_driver import ToyRun

from kasm.build import build_source
from kasm.elf import write_elf
from vmm.vocabulary import BootMode, RunEnd

# The toy's instruction set: prints "AB" with two HC_PUTCHARs, then HC_EXIT 3.
PROGRAM = """\
{code}
.globl _start
_start:
    mov $0x500, {dx}
    mov $1, %al
    mov $'A', {bx}
    out %al, (%dx)
second:
    inc %al
    mov $1, %al
    mov $'B', {bx}
    out %al, (%dx)
    jmp last
    nop
last:
    mov $0, %al
    mov $3, {bx}
    out %al, (%dx)
"""
SPIN = """\
{code}
.globl _start
_start:
    nop
spin:
    jmp spin
"""
MODES = {BootMode.REAL: (".code16", "%dx", "%bx"),
         BootMode.PROTECTED: (".code32", "%edx", "%ebx"),
         BootMode.LONG: (".code64", "%edx", "%ebx")}
ARCH = {BootMode.REAL: "i8086", BootMode.PROTECTED: "i386", BootMode.LONG: "i386:x86-64"}
PC = {BootMode.REAL: "eip", BootMode.PROTECTED: "eip", BootMode.LONG: "rip"}


pytestmark = pytest.mark.usefixtures("gdb")


def elf_of(tmp_path: Path, mode: BootMode, text: str = PROGRAM) -> str:
    code, dx, bx = MODES[mode]
    image = build_source(text.format(code=code, dx=dx, bx=bx), "toy.S").image
    path = tmp_path / f"toy-{mode.value}.elf"
    path.write_bytes(write_elf(image))
    return str(path)


@pytest.mark.parametrize("mode", list(MODES))
def test_gdb_shows_the_registers_of_the_mode_it_connects_in(tmp_path: Path,
                                                           mode: BootMode) -> None:
    run = ToyRun(elf_of(tmp_path, mode), mode, ["info registers", "show architecture",
                                                "continue"], gdb_elf=False)
    out = run.gdb_output
    assert f'(currently "{ARCH[mode]}")' in out
    assert re.search(rf"^{PC[mode]}\s+0x1000\s", out, re.M)
    for name in ("eflags", "cs", "ss", "ds", "cr0", "cr2", "cr3", "cr4", "efer"):
        assert re.search(rf"^{name}\s+0x", out, re.M), name
    assert ("r15" in out) == (mode is BootMode.LONG)
    if mode is BootMode.LONG:
        assert re.search(r"^cr0\s+0x80000011\s+\[ PE ET PG \]", out, re.M)
        assert re.search(r"^efer\s+0x500\s+\[ LME LMA \]", out, re.M)
    elif mode is BootMode.REAL:
        assert re.search(r"^cr0\s+0x10\s+\[ ET \]", out, re.M)
        assert re.search(r"^esp\s+0xfffe\s", out, re.M)
    assert "exited with code 03" in out
    assert run.output.getvalue() == b"AB" and run.result.exit_code == 3


@pytest.mark.parametrize("mode", list(MODES))
def test_break_at_a_label_continue_and_stepi(tmp_path: Path, mode: BootMode) -> None:
    run = ToyRun(elf_of(tmp_path, mode), mode, [
        "break second", "continue", f"print/x ${PC[mode]}", "stepi", f"print/x ${PC[mode]}",
        "print/x $al", "continue"])
    out = run.gdb_output
    assert "Breakpoint 1, 0x" in out and "in second ()" in out
    second = int(re.search(r"Breakpoint 1 at (0x[0-9a-f]+)", out)[1], 16)
    pcs = [int(v, 16) for v in re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", out, re.M)]
    assert pcs[:2] == [second, second + 2]  # inc %al is two bytes
    assert pcs[2] == 2  # AL was 1 (HC_PUTCHAR); inc made it 2
    assert run.output.getvalue() == b"AB" and run.result.exit_code == 3


@pytest.mark.parametrize("mode", list(MODES))
def test_memory_and_registers_can_be_read_and_written(tmp_path: Path, mode: BootMode) -> None:
    pc = PC[mode]
    run = ToyRun(elf_of(tmp_path, mode), mode, [
        "x/4xb _start", "break last", "continue",
        # make HC_EXIT's status 7: the instruction `mov $3, bx` gets immediate 7
        "set {char}(last + 3) = 7", "x/2xb last + 2", f"set ${pc} = last",
        "set $eax = 0x1234", "print/x $eax", "x/2xb 0x7fffff00", "continue"])
    out = run.gdb_output
    assert "<_start>:\t0xba\t0x00\t0x05\t" in out  # mov $0x500, %dx / %edx
    assert "\t0x07" in out and "$1 = 0x1234" in out
    assert "Cannot access memory at address 0x7fffff00" in out
    assert "exited with code 07" in out and run.result.exit_code == 7


def test_ctrl_c_in_gdb_stops_a_running_guest(tmp_path: Path) -> None:
    run = ToyRun(elf_of(tmp_path, BootMode.PROTECTED, SPIN), BootMode.PROTECTED,
                 ["continue", "print $eip == spin", "kill"], interrupt=True)
    out = run.gdb_output
    assert "Program received signal SIGINT, Interrupt." in out
    assert "$1 = 1" in out
    assert run.result.end is RunEnd.KILLED and run.result.exit_code == 137
    assert "gdb killed the guest at RIP 0x" in run.result.fault


def test_quitting_gdb_kills_the_guest(tmp_path: Path) -> None:
    run = ToyRun(elf_of(tmp_path, BootMode.REAL), BootMode.REAL, ["stepi"])
    assert run.result.end is RunEnd.KILLED
    assert run.result.fault.splitlines()[0] == "gdb killed the guest at CS:IP 0000:1003"
    assert run.output.getvalue() == b""


def test_detach_lets_the_guest_run_to_its_end(tmp_path: Path) -> None:
    run = ToyRun(elf_of(tmp_path, BootMode.LONG), BootMode.LONG, ["break second",
                                                                    "continue", "detach"])
    assert "[Inferior 1 (Remote target) detached]" in run.gdb_output
    assert run.result.end is RunEnd.HC_EXIT and run.result.exit_code == 3
    assert run.output.getvalue() == b"AB"
    assert run.log[-1] == "gdb detached: the guest runs on to its end"


def test_guest_output_reaches_stdout_at_each_stop(tmp_path: Path) -> None:
    """Output is not held back while gdb holds the guest (the machine writes through)."""
    run = ToyRun(elf_of(tmp_path, BootMode.REAL), BootMode.REAL,
                 ["break second", "continue", "kill"])
    assert run.output.getvalue() == b"A"


def test_real_mode_gdb_disassembles_16_bit_code_with_the_elf_the_stub_names(
        tmp_path: Path) -> None:
    run = ToyRun(elf_of(tmp_path, BootMode.REAL), BootMode.REAL,
                 ["set architecture i8086", "x/2i $pc", "info symbol $pc"],
                 gdb_elf=False, exec_file=True)
    out = run.gdb_output
    assert 'The target architecture is set to "i8086".' in out
    assert "mov    $0x500,%dx" in out  # 16-bit disassembly
    assert "_start in section .text" in out  # symbols from the ELF the stub named


def test_the_stub_says_how_to_connect(tmp_path: Path) -> None:
    real = ToyRun(elf_of(tmp_path, BootMode.REAL), BootMode.REAL, ["kill"])
    assert re.fullmatch(r"waiting for gdb on 127\.0\.0\.1:(\d+): gdb -ex 'target remote "
                        r":\1' -ex 'set architecture i8086'", real.log[0])
    long = ToyRun(elf_of(tmp_path, BootMode.LONG), BootMode.LONG, ["kill"])
    assert re.fullmatch(r"waiting for gdb on 127\.0\.0\.1:(\d+): gdb -ex 'target remote "
                        r":\1'", long.log[0])


# Source-level stepping needs line information: GNU as -g writes it here (kasm's own DWARF is
# tested with the real backends). `mov %esp, %ebp` because gdb takes EBP = 0 for the outermost
# frame (the x86 ABI's marker) and then cannot see that `next` stepped into a call.
LINES = """\
{code}
.globl _start
_start:
    mov {sp}, {bp}
    call main
    mov $0, %al
    mov $3, {bx}
    out %al, (%dx)
main:
    mov $0x500, {dx}
    call putchar_a
    mov $1, %al
    mov $'B', {bx}
    out %al, (%dx)
    ret
putchar_a:
    mov $1, %al
    mov $'A', {bx}
    out %al, (%dx)
    ret
"""


def gnu_elf(tmp_path: Path, mode: BootMode) -> str:
    code, dx, bx = MODES[mode]
    sp, bp = ("%sp", "%bp") if mode is BootMode.REAL else ("%esp", "%ebp")
    source = tmp_path / f"lines{mode.bits}.S"
    source.write_text(LINES.format(code=code, dx=dx, bx=bx, sp=sp, bp=bp))
    obj, elf = source.with_suffix(".o"), source.with_suffix(".elf")
    wide = mode is BootMode.LONG
    subprocess.run(["as", "--64" if wide else "--32", "-g", "-o", obj, source.name],
                   cwd=tmp_path, check=True)
    subprocess.run(["ld", "-m", "elf_x86_64" if wide else "elf_i386", "-Ttext=0x1000",
                    "-e", "_start", "-o", elf, obj], check=True)
    return str(elf)


@pytest.mark.usefixtures("binutils")
@pytest.mark.parametrize("mode", [BootMode.PROTECTED, BootMode.LONG])
def test_break_at_a_source_line_then_next_and_step(tmp_path: Path, mode: BootMode) -> None:
    name = f"lines{mode.bits}.S"
    run = ToyRun(gnu_elf(tmp_path, mode), mode, [
        f"break {name}:11", "continue", "next", "step", "step", "continue"])
    out = run.gdb_output
    assert f"Breakpoint 1, main () at {name}:11\n11\t    call putchar_a\n" in out
    # next runs the call (it printed A) and stops at the next line; step goes line by line
    assert "\n12\t    mov $1, %al\n13\t" in out
    assert "\n14\t    out %al, (%dx)\n" in out
    assert "exited with code 03" in out and run.output.getvalue() == b"AB"


@pytest.mark.usefixtures("binutils")
def test_step_into_a_call_and_out_with_finish(tmp_path: Path) -> None:
    run = ToyRun(gnu_elf(tmp_path, BootMode.LONG), BootMode.LONG, [
        "break lines64.S:11", "continue", "step", "bt", "finish", "kill"])
    out = run.gdb_output
    assert "putchar_a () at lines64.S:17\n17\t" in out
    assert re.search(r"^#1  0x0+1019 in main \(\) at lines64.S:11$", out, re.M)
    assert "main () at lines64.S:12" in out  # finish ran to the return address


@pytest.mark.usefixtures("binutils")
def test_real_mode_runs_over_a_call_with_advance(tmp_path: Path) -> None:
    """gdb unwinds with 32-bit return addresses, so in real mode `next` steps into a call;
    `advance LINE` (a breakpoint there, then continue) runs over it."""
    run = ToyRun(gnu_elf(tmp_path, BootMode.REAL), BootMode.REAL, [
        "set architecture i8086", "break lines16.S:11", "continue", "x/i $pc", "advance 12",
        "kill"])
    out = run.gdb_output
    assert "call   0x" in out and "<putchar_a>" in out  # 16-bit disassembly
    assert "main () at lines16.S:12" in out
    assert run.output.getvalue() == b"A"


def test_hbreak_a_software_watchpoint_and_jump(tmp_path: Path) -> None:
    """hbreak is Z1; `watch` falls back to gdb's own watchpoint (it single-steps the guest);
    `jump` writes the pc and continues."""
    run = ToyRun(elf_of(tmp_path, BootMode.PROTECTED), BootMode.PROTECTED, [
        "hbreak second", "continue", "watch $al", "continue", "delete", "jump last"])
    out = run.gdb_output
    assert "Hardware assisted breakpoint 1 at 0x" in out
    assert "Breakpoint 1, 0x" in out and "in second ()" in out
    assert "Old value = 1\nNew value = 2\n" in out
    assert "exited with code 03" in out
    assert run.output.getvalue() == b"A"  # the jump went past the second HC_PUTCHAR

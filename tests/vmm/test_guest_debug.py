"""VcpuBackend.set_guest_debug on both backends: one Debug exit per instruction when
single-stepping (pc = the next instruction), Debug before an instruction at a breakpoint, and
every other exit as it is (I/O exits, HLT as Hlt although KVM steps over it)."""

from __future__ import annotations

from pathlib import Path

from kasm.build import build_file, build_source
from vmm import exits as ex
from vmm.machine import Machine
from vmm.modes import boot_state

ROOT = Path(__file__).resolve().parents[2]

REAL = """\
.code16
_start: mov $1, %ax
    inc %ax
    mov $0x500, %dx
    mov $3, %al
    outb %al, (%dx)
    nop
    hlt
    nop
"""


def boot(machine: Machine, image) -> None:  # noqa: ANN001 - kasm.image.Image
    machine.load_flat(image.flat(), image.base)
    regs, sregs = boot_state(image.mode, machine.memory, image.entry)
    machine.vcpu.set_sregs(sregs)
    machine.vcpu.set_regs(regs)


def exits(machine: Machine, limit: int = 100_000) -> list[ex.Exit]:
    """Run the vCPU alone (no devices): IN answers 0, the hypercall HC_EXIT or HLT ends."""
    out = []
    vcpu = machine.vcpu
    for _ in range(limit):
        exit = vcpu.run()
        out.append(exit)
        if type(exit) is ex.IoIn:
            vcpu.complete_io_in(bytes(exit.size * exit.count))
        elif type(exit) is ex.IoOut and exit.port == 0x500 and exit.data[0] == 0:
            break
        elif type(exit) not in (ex.IoOut, ex.Debug):
            break
    return out


def traced(backend: str, source: str, single_step: bool, breakpoints: tuple[int, ...] = ()
           ) -> list[ex.Exit]:
    with Machine(backend=backend) as m:
        boot(m, build_source(source, "t.S").image)
        m.vcpu.set_guest_debug(single_step, breakpoints)
        return exits(m)


def test_single_step_gives_one_debug_exit_per_instruction_and_hlt_stays_hlt(backend: str):
    assert traced(backend, REAL, True) == [
        ex.Debug(0x1003), ex.Debug(0x1004), ex.Debug(0x1007), ex.Debug(0x1009),
        ex.IoOut(0x500, 1, b"\x03"),  # the OUT's exit stands for its step
        ex.Debug(0x100B), ex.HLT]


def test_hardware_breakpoints_stop_before_their_instruction_and_resume(backend: str):
    assert traced(backend, REAL, False, (0x1000, 0x100A)) == [
        ex.Debug(0x1000, True), ex.IoOut(0x500, 1, b"\x03"), ex.Debug(0x100A, True), ex.HLT]


def test_more_breakpoints_than_debug_registers(backend: str):
    points = (0x1000, 0x1003, 0x1004, 0x1007, 0x100A, 0x100B)
    assert traced(backend, REAL, False, points) == [
        ex.Debug(0x1000, True), ex.Debug(0x1003, True), ex.Debug(0x1004, True),
        ex.Debug(0x1007, True), ex.IoOut(0x500, 1, b"\x03"), ex.Debug(0x100A, True),
        ex.Debug(0x100B, True), ex.HLT]


def test_single_step_with_breakpoints_marks_them(backend: str):
    steps = traced(backend, REAL, True, (0x1004,))
    assert [e for e in steps if type(e) is ex.Debug and e.breakpoint] == [ex.Debug(0x1004, True)]


def test_turning_debug_off_runs_on_untraced(backend: str):
    with Machine(backend=backend) as m:
        boot(m, build_source(REAL, "t.S").image)
        m.vcpu.set_guest_debug(True)
        assert m.vcpu.run() == ex.Debug(0x1003)
        m.vcpu.set_guest_debug()
        assert exits(m) == [ex.IoOut(0x500, 1, b"\x03"), ex.HLT]


def test_stepping_across_the_guests_own_switch_to_long_mode(backend: str):
    """real_to_long.S, stepped from its first instruction to its HC_EXIT: the same exits as
    untraced, and both backends step the same instructions."""
    image = build_file(ROOT / "examples" / "switch" / "real_to_long.S").image
    runs = {}
    for step in (False, True):
        with Machine(backend=backend) as m:
            boot(m, image)
            m.vcpu.set_guest_debug(step)
            runs[step] = exits(m)
    untraced, stepped = runs[False], runs[True]
    assert [e for e in stepped if type(e) is not ex.Debug] == untraced
    pcs = [e.pc for e in stepped if type(e) is ex.Debug]
    assert len(pcs) == STEPS_TO_LONG_MODE and type(stepped[-1]) is ex.IoOut


STEPS_TO_LONG_MODE = 56  # the instructions real_to_long.S runs, but its 10 OUTs


def test_long_mode_steps_are_linear_addresses(backend: str):
    image = build_source(".code64\n_start: mov $1, %rax\n jmp 1f\n nop\n1: hlt\n", "t.S").image
    with Machine(backend=backend) as m:
        boot(m, image)
        m.vcpu.set_guest_debug(True)
        assert exits(m) == [ex.Debug(0x1007), ex.Debug(0x100A), ex.HLT]

"""The run loop, bus, devices and statistics over a scripted vCPU: no /dev/kvm needed.

What KVM itself does is tested on KVM (the other test modules); these check what the VMM does
with each kind of exit."""

from __future__ import annotations

import io

from fake_vcpu import FakeBackend, FakeVcpu

from vmm import BootMode, ExitCode, Machine, RunEnd
from vmm import exits as ex
from vmm.devices.hypercall import (
    HC_EXIT,
    HC_GETCHAR,
    HC_NEWLINE,
    HC_PUTCHAR,
    HC_PUTNUM,
    HC_WRITE,
)
from vmm.monitor import Monitor
from vmm.runloop import VcpuEnd

HC_PORT = 0x500


def hypercall(number: int, **regs: int) -> tuple[dict[str, int], ex.IoOut]:
    return regs, ex.IoOut(HC_PORT, 1, bytes([number]))


def machine(*script, input: bytes | None = None) -> tuple[Machine, io.BytesIO]:
    out = io.BytesIO()
    backend = FakeBackend([list(script)])
    m = Machine(1 << 20, backend=lambda memory: backend, output=out,
                input=None if input is None else io.BytesIO(input))
    return m, out


def test_hypercalls_print_and_exit_with_the_guests_status() -> None:
    m, out = machine(hypercall(HC_PUTCHAR, rbx=ord("A")), hypercall(HC_PUTNUM, rbx=0x1_0042),
                     hypercall(HC_NEWLINE), hypercall(HC_EXIT, rbx=0x1FF))
    with m:
        r = m.run()
    assert out.getvalue() == b"A66\n"  # real mode: BX only
    assert (r.end, r.status, r.exit_code) == (RunEnd.HC_EXIT, 0x1FF, 0xFF)
    assert (r.stats.total_exits, r.stats.exits_by_reason, r.stats.exits_by_port) == (
        4, {"io": 4}, {HC_PORT: 4})
    assert r.stats.backend == "fake" and r.fault is None


def test_getchar_result_keeps_the_bits_above_the_modes_width() -> None:
    for mode, width in ((BootMode.REAL, 16), (BootMode.PROTECTED, 32), (BootMode.LONG, 64)):
        m, _ = machine(hypercall(HC_GETCHAR, rax=0x1234_5678_9ABC_DEF0),
                       hypercall(HC_GETCHAR), input=b"Z")
        with m:
            m.run(mode=mode)
            vcpu: FakeVcpu = m.vcpu  # type: ignore[assignment]
        mask = (1 << width) - 1
        assert vcpu.writes[0] == ("rax", (0x1234_5678_9ABC_DEF0 & ~mask) | ord("Z"))
        assert vcpu.writes[1][1] & mask == mask  # end of input: all ones at the width


def test_an_in_is_answered_before_the_next_run() -> None:
    m, _ = machine(ex.IoIn(0x3FD, 1), ex.IoIn(0x3F8, 1), ex.IoIn(0x60, 2), input=b"k")
    with m:
        r = m.run()
        vcpu: FakeVcpu = m.vcpu  # type: ignore[assignment]
    assert vcpu.inputs == [b"\x61", b"k", b"\xff\xff"]  # LSR: DR|THRE|TEMT; RBR; unowned
    assert r.end is RunEnd.HLT and m.bus.unowned == {0x60: 1}


def test_strict_makes_an_unowned_port_a_fault_that_says_where() -> None:
    m, _ = machine(({"rip": 0x1234}, ex.IoOut(0x80, 1, b"\0")))
    with m:
        r = m.run(strict=True)
    assert r.end is RunEnd.UNOWNED_PORT and r.exit_code == ExitCode.GUEST_FAULT
    assert "write to I/O port 0x80 that no device owns" in r.fault
    assert "CS:IP 0000:1234" in r.fault and r.register_dump


def test_a_pointer_outside_ram_is_the_guests_fault() -> None:
    m, _ = machine(hypercall(HC_WRITE, rbx=0xFFF0_0000, rcx=0x100))  # HC_WRITE, 1 MiB of RAM
    with m:
        r = m.run(mode=BootMode.PROTECTED)
    assert r.end is RunEnd.BAD_POINTER and "outside guest RAM" in r.fault


def test_an_unknown_hypercall_is_a_fault_naming_it() -> None:
    m, _ = machine(hypercall(0x99))
    with m:
        r = m.run()
    assert r.end is RunEnd.BAD_HYPERCALL and "unknown hypercall 153 (AL=0x99)" in r.fault


def test_timeout_stops_a_guest_that_never_exits() -> None:
    m, _ = machine(lambda vcpu: vcpu.wait_for_stop())
    with m:
        r = m.run(timeout=0.05)
    assert (r.end, r.exit_code) == (RunEnd.TIMEOUT, ExitCode.TIMEOUT)
    assert r.stats.exits_by_reason == {"intr": 1} and "ran past 0.05 s" in r.fault


def test_an_interruption_nobody_asked_for_lets_the_guest_go_on() -> None:
    m, out = machine(ex.INTERRUPTED, hypercall(HC_PUTCHAR, rbx=ord("x")))
    with m:
        r = m.run()
    assert r.end is RunEnd.HLT and out.getvalue() == b"x"
    assert r.stats.exits_by_reason == {"intr": 1, "hlt": 1, "io": 1}


def test_exits_that_kill_the_guest_are_faults_with_a_register_dump() -> None:
    cases = {ex.SHUTDOWN: RunEnd.SHUTDOWN, ex.InternalError(1): RunEnd.INTERNAL_ERROR,
             ex.FailEntry(7): RunEnd.FAIL_ENTRY, ex.Mmio(0x1_0000_0000, b"", 4, True): RunEnd.MMIO,
             ex.Unknown(99, "mystery"): RunEnd.UNHANDLED_EXIT}
    for exit, end in cases.items():
        m, _ = machine(exit)
        with m:
            r = m.run()
        assert (r.end, r.exit_code) == (end, ExitCode.GUEST_FAULT)
        assert r.fault.startswith("guest fault: ") and "rip" in r.register_dump


def test_a_closed_reader_stops_the_guest_as_sigpipe_would() -> None:
    class Gone(io.RawIOBase):
        def write(self, data: bytes) -> int:
            raise BrokenPipeError

    backend = FakeBackend([[hypercall(HC_PUTCHAR, rbx=65)] * 10000])
    with Machine(1 << 20, backend=lambda memory: backend, output=Gone()) as m:
        r = m.run()
    assert (r.end, r.exit_code) == (RunEnd.OUTPUT_CLOSED, ExitCode.OUTPUT_CLOSED)
    assert r.stats.total_exits < 10000


def test_a_full_disk_is_not_a_clean_run() -> None:
    class Full(io.RawIOBase):
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

    backend = FakeBackend([[hypercall(HC_PUTCHAR, rbx=65)]])
    with Machine(1 << 20, backend=lambda memory: backend, output=Full()) as m:
        r = m.run()
    assert (r.end, r.exit_code) == (RunEnd.OUTPUT_FAILED, ExitCode.VMM_ERROR)
    assert "No space left on device" in r.fault


class Recorder(Monitor):
    """Asks for single-steps and records what the loop shows it; ends the run at a pc."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.seen: list[object] = []
        self.stop_at = stop_at

    def attach(self, vcpu, memory) -> None:
        vcpu.set_guest_debug(single_step=True)
        self.seen.append("attach")

    def on_exit(self, exit) -> None:
        self.seen.append(exit)

    def on_debug(self, exit):
        self.seen.append(exit.pc)
        return VcpuEnd(RunEnd.INTERRUPTED) if exit.pc == self.stop_at else None

    def detach(self, end) -> None:
        self.seen.append(end.end)


def test_a_monitor_sees_every_exit_and_owns_the_debug_exits() -> None:
    m, out = machine(ex.Debug(0x1001), hypercall(HC_PUTCHAR, rbx=ord("d")), ex.Debug(0x1003))
    recorder = Recorder()
    with m:
        r = m.run(monitor=recorder)
        assert m.vcpu.debug == (True, ())  # type: ignore[attr-defined]
    put = hypercall(HC_PUTCHAR, rbx=ord("d"))[1]
    assert recorder.seen == ["attach", 0x1001, put, 0x1003, ex.HLT, RunEnd.HLT]
    assert out.getvalue() == b"d" and r.end is RunEnd.HLT
    assert r.stats.total_exits == 2 and "debug" not in r.stats.exits_by_reason


def test_a_monitor_can_end_the_run_at_a_debug_exit() -> None:
    m, _ = machine(ex.Debug(0x1001), ex.Debug(0x1002), hypercall(HC_PUTCHAR, rbx=65))
    recorder = Recorder(stop_at=0x1002)
    with m:
        r = m.run(monitor=recorder)
    assert r.end is RunEnd.INTERRUPTED and recorder.seen[-1] is RunEnd.INTERRUPTED
    assert r.stats.total_exits == 0


class EndsAtInterrupt(Monitor):
    """Ends the run at the first Interrupted exit it sees (as a debugger's kill does)."""

    def on_exit(self, exit):
        if exit == ex.INTERRUPTED:
            return VcpuEnd(RunEnd.KILLED, 0, "killed by the monitor")
        return None


def test_a_monitor_can_end_the_run_at_any_exit() -> None:
    m, out = machine(hypercall(HC_PUTCHAR, rbx=ord("k")), ex.INTERRUPTED,
                     hypercall(HC_PUTCHAR, rbx=ord("x")))
    with m:
        r = m.run(monitor=EndsAtInterrupt())
    assert (r.end, r.exit_code) == (RunEnd.KILLED, 137)
    assert r.fault.splitlines()[0] == "killed by the monitor"
    assert out.getvalue() == b"k"

"""The run loop: run the vCPU, count the exit, hand port I/O to the bus, act on the answer.

Device logic lives behind the bus and fault wording in vmm.faults; this module only decides
when a run ends. It sees the vCPU through vmm.backend, so it runs KVM and a scripted test
vCPU alike. `run_vcpu` is also the loop of each vCPU of a run of several (vmm.smp). With an
interrupt controller (vmm.interrupts) it consults it before each entry and at a HLT; an
instruction the backend's emulator gives up on may be completed by vmm.completion.
"""

from __future__ import annotations

from time import perf_counter

from vmm import exits as ex
from vmm.backend import VcpuBackend
from vmm.bus import IoBus, PortIo
from vmm.control import RunControl
from vmm.device import Fault, Stop
from vmm.errors import GuestMemoryError
from vmm.faults import exit_fault, register_dump, where
from vmm.guest import GuestCpu
from vmm.memory import GuestMemory
from vmm.monitor import Monitor
from vmm.outcome import RunResult
from vmm.stats import ExitStats, VcpuStats
from vmm.vocabulary import RunEnd

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from vmm.interrupts import Interrupts


class VcpuEnd:
    """How one vCPU's loop ended: the end, the guest's status, and for a fault what happened
    (and the exception's vector, when the guest raised one)."""

    __slots__ = ("end", "status", "fault", "vector")

    def __init__(self, end: RunEnd, status: int = 0, fault: str | None = None,
                 vector: int | None = None) -> None:
        self.end, self.status, self.fault, self.vector = end, status, fault, vector


def run(
    vcpu: VcpuBackend,
    bus: IoBus,
    memory: GuestMemory,
    *,
    timeout: float | None = None,
    strict: bool = False,
    control: RunControl | None = None,
    monitor: Monitor | None = None,
    interrupts: Interrupts | None = None,
) -> RunResult:
    """Run the vCPU until HLT, HC_EXIT, a fault, the timeout or Ctrl-C; never raises for
    anything the guest does. `timeout` None or 0 means none; `monitor` watches the run."""
    stats = ExitStats()
    control = control or RunControl([vcpu])
    outcome = VcpuEnd(RunEnd.INTERRUPTED)
    with control.armed(timeout):
        t0 = perf_counter()
        try:
            outcome = run_vcpu(vcpu, bus, memory, stats, control, strict, monitor, interrupts)
        except KeyboardInterrupt:
            outcome = VcpuEnd(RunEnd.INTERRUPTED)
        finally:
            stats.guest_wall_s = perf_counter() - t0
    return finish(outcome, vcpu, stats, timeout)


def finish(outcome: VcpuEnd, vcpu: VcpuBackend, stats: ExitStats,
           timeout: float | None) -> RunResult:
    """The RunResult of a finished loop, with the report a fault or a stop deserves."""
    end = outcome.end
    stats.end = end
    result = RunResult(end, outcome.status, stats)
    if outcome.fault is not None or end in (RunEnd.TIMEOUT, RunEnd.INTERRUPTED):
        at, rip = where(vcpu)
        result.rip = rip
        if outcome.fault is not None:
            result.fault = outcome.fault
            result.register_dump = register_dump(vcpu)
        else:
            result.fault = stop_message(end, timeout, at)
    return result


def stop_message(end: RunEnd, timeout: float | None, at: str) -> str:
    """What a run stopped from outside (the watchdog or Ctrl-C) says about where it was."""
    if end is RunEnd.TIMEOUT:
        return f"timeout: the guest ran past {timeout:g} s; it was at {at}"
    return f"interrupted: stopped by Ctrl-C at {at}"


def run_vcpu(
    vcpu: VcpuBackend,
    bus: PortIo,
    memory: GuestMemory,
    stats: ExitStats | VcpuStats,
    control: RunControl,
    strict: bool = False,
    monitor: Monitor | None = None,
    interrupts: Interrupts | None = None,
) -> VcpuEnd:
    """The loop of one vCPU, until something ends the run; counts every exit in `stats`
    (but the Debug exits a `monitor` asked for, which are its own). `interrupts`: the
    controller whose interrupts this vCPU takes, if any."""
    if monitor is not None:
        monitor.attach(vcpu, memory)
        end = VcpuEnd(RunEnd.INTERRUPTED)
        try:
            end = _loop(vcpu, bus, memory, stats, control, strict, monitor, interrupts)
            if end.end.is_fault:
                monitor.on_fault(end)
            return end
        finally:
            monitor.detach(end)
    return _loop(vcpu, bus, memory, stats, control, strict, None, interrupts)


def _loop(
    vcpu: VcpuBackend,
    bus: PortIo,
    memory: GuestMemory,
    stats: ExitStats | VcpuStats,
    control: RunControl,
    strict: bool,
    monitor: Monitor | None,
    interrupts: Interrupts | None,
) -> VcpuEnd:
    cpu = GuestCpu(vcpu.state, memory, vcpu.index)
    vrun = vcpu.run
    bus_write = bus.write
    bus_read = bus.read
    owns = bus.owns
    ports = stats.exits_by_port
    reasons = stats.exits_by_reason
    IoOut, IoIn = ex.IoOut, ex.IoIn  # noqa: N806 - local aliases for the hot path
    total = n_io = 0
    try:
        while True:
            if interrupts is not None and interrupts.active:
                interrupts.before_entry(vcpu)
            exit = vrun()
            t = type(exit)
            if monitor is not None:
                if t is ex.Debug:
                    ended = monitor.on_debug(exit)
                    if ended is not None:
                        return ended
                    continue
                ended = monitor.on_exit(exit)
                if ended is not None:
                    return ended
            total += 1
            if t is IoOut or t is IoIn:
                n_io += 1
                port = exit.port
                ports[port] = ports.get(port, 0) + 1
                if strict and not owns(port):
                    direction = "write to" if t is IoOut else "read from"
                    return VcpuEnd(RunEnd.UNOWNED_PORT, 0, (
                        f"guest fault: {direction} I/O port {port:#x} that no device owns "
                        f"(strict) at {where(vcpu)[0]}"))
                try:
                    if t is IoIn:
                        data = bus_read(port, exit.size, exit.count)
                        vcpu.complete_io_in(data)
                        if monitor is not None:
                            monitor.on_io_in(data)
                        continue
                    action = bus_write(port, exit.data, cpu, exit.size)
                except GuestMemoryError as e:
                    return VcpuEnd(RunEnd.BAD_POINTER, 0,
                                   f"guest fault: bad pointer: {e} at {where(vcpu)[0]}")
                if action is None:
                    continue
                if type(action) is Stop:
                    return VcpuEnd(action.end, action.status)
                assert type(action) is Fault
                return VcpuEnd(action.end, 0,
                               f"guest fault: {action.message} at {where(vcpu)[0]}",
                               action.vector)
            name = ex.exit_name(exit)
            reasons[name] = reasons.get(name, 0) + 1
            if t is ex.Hlt:
                if interrupts is not None and interrupts.halt(vcpu, control):
                    continue  # it slept until an interrupt was due (or a stop came)
                return VcpuEnd(RunEnd.HLT)
            if t is ex.Interrupted:
                if control.reason is not None:
                    return VcpuEnd(control.reason)
                continue  # a kick, or some other signal interrupted the run: carry on
            if t is ex.IrqWindowOpen:
                continue
            if t is ex.InternalError:
                from vmm.completion import complete  # rare: not worth its import at start

                completed = complete(exit, vcpu, memory)
                if completed is not None:
                    done = stats.completed_by_vmm
                    done[completed] = done.get(completed, 0) + 1
                    if monitor is not None:
                        monitor.on_completed(completed)
                    continue
            end, message = exit_fault(exit, vcpu, memory)
            return VcpuEnd(end, 0, message)
    finally:
        stats.total_exits += total
        if n_io:
            reasons["io"] = reasons.get("io", 0) + n_io

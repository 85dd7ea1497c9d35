"""Several vCPUs over one guest memory: each runs the one-vCPU loop (vmm.runloop) on a thread of
its own, so that their guest code runs in parallel (cffi releases the GIL during KVM_RUN).

The calling thread only waits for them: Ctrl-C reaches the main thread, which stays free to
stop the run, and SIGINT is blocked in the vCPU threads so it cannot land anywhere else. The
run ends when every vCPU has halted, or when one vCPU's end (HC_EXIT, a fault, a closed
output) stops the others. Nothing here knows which backend runs the vCPUs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from time import perf_counter

from vmm.backend import VcpuBackend
from vmm.bus import IoBus, PortIo
from vmm.control import RunControl
from vmm.device import Action, CpuView, Stop
from vmm.faults import register_dump, where
from vmm.memory import GuestMemory
from vmm.outcome import RunResult
from vmm.runloop import VcpuEnd, run_vcpu, stop_message
from vmm.stats import STOPPED, ExitStats, VcpuStats
from vmm.vocabulary import RunEnd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vmm.interrupts import Interrupts

_SIGINT = {signal.SIGINT}


class SharedBus(PortIo):
    """The bus as several vCPUs reach it: one access at a time, so one hypercall's output is
    never torn by another vCPU's. An access that ends the run stops the other vCPUs before
    the next access is let in, and once the run is stopping no device sees another write: no
    output ever follows the HC_EXIT that ended the run.

    The lock is held only while a device handles an access, which holds the GIL anyway; the
    vCPUs' KVM_RUN calls overlap as they would without it."""

    __slots__ = ("_bus", "_control", "_lock", "owns")

    def __init__(self, bus: IoBus, control: RunControl) -> None:
        self._bus = bus
        self._control = control
        self._lock = threading.Lock()
        self.owns = bus.owns

    def write(self, port: int, data: bytes, cpu: CpuView, size: int = 0) -> Action | None:
        with self._lock:
            reason = self._control.reason
            if reason is not None:
                return Stop(reason)
            action = self._bus.write(port, data, cpu, size)
            if action is not None:
                self._control.stop(action.end, cpu.cpu_index)
            return action

    def read(self, port: int, size: int, count: int = 1) -> bytes:
        with self._lock:
            return self._bus.read(port, size, count)


class _VcpuThread(threading.Thread):
    """Runs one vCPU's loop; its end (or the exception that ended it) is kept for the caller."""

    def __init__(self, vcpu: VcpuBackend, bus: PortIo, memory: GuestMemory,
                 control: RunControl, strict: bool, interrupts: Interrupts | None) -> None:
        super().__init__(name=f"vcpu{vcpu.index}", daemon=True)
        self.vcpu, self._bus, self._memory = vcpu, bus, memory
        self._control, self._strict = control, strict
        self._interrupts = interrupts
        self.stats = VcpuStats(vcpu.index)
        self.outcome: VcpuEnd | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        vcpu, control = self.vcpu, self._control
        try:
            self.outcome = run_vcpu(vcpu, self._bus, self._memory, self.stats, control,
                                    self._strict, interrupts=self._interrupts)
            if self.outcome.end is not RunEnd.HLT:
                control.stop(self.outcome.end, vcpu.index)
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread, re-raised there
            self.error = e
            control.stop(RunEnd.INTERRUPTED, vcpu.index)
        finally:
            vcpu.clear_stop()  # this thread is done with it: no stop request may signal it


def run(
    vcpus: Sequence[VcpuBackend],
    bus: IoBus,
    memory: GuestMemory,
    control: RunControl,
    *,
    timeout: float | None = None,
    strict: bool = False,
    interrupts: Interrupts | None = None,
) -> RunResult:
    """Run every vCPU to the end of the run; as vmm.runloop.run, for several vCPUs. The
    interrupt controller's interrupts go to vCPU 0 (there is no APIC to route them)."""
    shared = SharedBus(bus, control)
    threads = [_VcpuThread(v, shared, memory, control, strict,
                           interrupts if v.index == 0 else None) for v in vcpus]
    with control.armed(timeout):
        t0 = perf_counter()
        try:
            _start_without_sigint(threads)
            for t in threads:
                t.join()
        finally:
            if any(t.is_alive() for t in threads):  # only if waiting itself failed
                control.stop(RunEnd.INTERRUPTED)
                for t in threads:
                    t.join()
            wall = perf_counter() - t0
    for t in threads:
        if t.error is not None:
            raise t.error
    stats = ExitStats.total([t.stats for t in threads])
    stats.guest_wall_s = wall
    return _result(threads, control, stats, timeout)


def _start_without_sigint(threads: list[_VcpuThread]) -> None:
    """Start the threads with SIGINT blocked (they inherit the mask), so Ctrl-C always lands
    on the waiting thread, whose handler stops the run."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGINT)
    try:
        for t in threads:
            t.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _result(threads: list[_VcpuThread], control: RunControl, stats: ExitStats,
            timeout: float | None) -> RunResult:
    reason, by = control.reason, control.stopped_by
    for t in threads:
        outcome = t.outcome
        assert outcome is not None
        stopped = by not in (None, t.vcpu.index) and outcome.end is reason and not outcome.fault
        t.stats.end = STOPPED if stopped else outcome.end.value
    if reason is None:  # nobody stopped the run: every vCPU halted
        stats.end = RunEnd.HLT
        return RunResult(RunEnd.HLT, 0, stats)
    stats.end = reason
    if by is None:  # the watchdog or Ctrl-C
        places = [(where(t.vcpu), t.vcpu.index) for t in threads]
        at = ", ".join(f"{text} (vCPU {index})" for (text, _), index in places)
        return RunResult(reason, 0, stats, stop_message(reason, timeout, at),
                         rip=places[0][0][1])
    ender = next(t for t in threads if t.vcpu.index == by)
    outcome = ender.outcome
    assert outcome is not None
    result = RunResult(reason, outcome.status, stats)
    if outcome.fault is not None:
        result.fault = outcome.fault.replace("guest fault:", f"guest fault on vCPU {by}:", 1)
        result.register_dump = register_dump(ender.vcpu)
        result.rip = where(ender.vcpu)[1]
    return result

"""A scripted vCPU for testing what sits above the backend interface (run loop, bus, devices,
statistics, reports) without /dev/kvm. It is no CPU: each `run()` returns the next exit of
its script, with the registers the script says the guest had at that exit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from vmm import exits as ex
from vmm.backend import CpuState, VcpuBackend, VmBackend
from vmm.cpu import (
    REGISTER_NAMES,
    Registers,
    Segment,
    SpecialRegisters,
    mode_of,
)
from vmm.vocabulary import CpuMode

# A script step: an exit, or (registers to set first, exit), or a callable run at that step
# that returns the exit (to block, to raise KeyboardInterrupt, ...)
Step = ex.Exit | tuple[dict[str, int], ex.Exit] | Callable[["FakeVcpu"], ex.Exit]


def real_mode_sregs() -> SpecialRegisters:
    return SpecialRegisters(cs=Segment(type=0xB))


class FakeState(CpuState):
    __slots__ = ("_cpu",)

    def __init__(self, cpu: FakeVcpu) -> None:
        self._cpu = cpu

    def reg(self, name: str) -> int:
        return getattr(self._cpu.regs, name)

    def set_reg(self, name: str, value: int) -> None:
        setattr(self._cpu.regs, name, value & 0xFFFF_FFFF_FFFF_FFFF)
        self._cpu.writes.append((name, value))

    @property
    def mode(self) -> CpuMode:
        s = self._cpu.sregs
        return mode_of(s.cr0, s.efer, s.cs.l, s.cs.db)

    @property
    def width(self) -> int:
        return self.mode.width

    def control_registers(self) -> tuple[int, int, int, int]:
        s = self._cpu.sregs
        return s.cr0, s.cr3, s.cr4, s.efer

    def segment_base(self, name: str) -> int:
        return getattr(self._cpu.sregs, name).base


class FakeVcpu(VcpuBackend):
    """Plays `script`; after its end every run() is HLT. `inputs` records IN completions and
    `writes` every register a device set."""

    def __init__(self, script: Iterable[Step], sregs: SpecialRegisters | None = None,
                 index: int = 0) -> None:
        self.index = index
        self._script = list(script)
        self.regs = Registers()
        self.sregs = sregs or real_mode_sregs()
        self.state = FakeState(self)
        self.inputs: list[bytes] = []
        self.writes: list[tuple[str, int]] = []
        self.runs = 0
        self.debug: tuple[bool, tuple[int, ...]] = (False, ())
        self._stop = threading.Event()
        self.closed = False
        self.if_flag = False  # whether the scripted guest can take an interrupt now
        self.injected: list[int] = []  # vectors handed to the guest
        self.window_requests: list[bool] = []
        self.kicks = 0

    def run(self) -> ex.Exit:
        self.runs += 1
        if self._stop.is_set():
            return ex.INTERRUPTED
        if not self._script:
            return ex.HLT
        step = self._script.pop(0)
        if callable(step):
            return step(self)
        if isinstance(step, tuple):
            regs, step = step
            for name, value in regs.items():
                setattr(self.regs, name, value)
        return step

    def complete_io_in(self, data: bytes) -> None:
        self.inputs.append(data)

    def get_regs(self) -> Registers:
        return self.regs.replace()

    def set_regs(self, regs: Registers) -> None:
        self.regs = Registers(*(getattr(regs, n) for n in REGISTER_NAMES))

    def get_sregs(self) -> SpecialRegisters:
        return self.sregs

    def set_sregs(self, sregs: SpecialRegisters) -> None:
        self.sregs = sregs

    def set_guest_debug(self, single_step: bool = False, breakpoints: tuple[int, ...] = ()
                        ) -> None:
        self.debug = (single_step, breakpoints)

    def request_stop(self) -> None:
        self._stop.set()

    def interrupt_ready(self) -> bool:
        return self.if_flag

    def inject_interrupt(self, vector: int) -> None:
        self.injected.append(vector)

    def request_interrupt_window(self, wanted: bool) -> None:
        self.window_requests.append(wanted)

    def kick(self) -> None:
        self.kicks += 1

    def clear_stop(self) -> None:
        self._stop.clear()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_for_stop(self, timeout: float = 5.0) -> ex.Exit:
        """A script step that blocks like a guest spinning forever, until stopped."""
        self._stop.wait(timeout)
        return ex.INTERRUPTED

    def close(self) -> None:
        self.closed = True


class FakeBackend(VmBackend):
    """Hands out FakeVcpus from a list of scripts, one per vCPU index (an index past the list
    halts at once); as many vCPUs as scripts unless told otherwise."""

    name = "fake"

    def __init__(self, scripts: list[list[Step]], *, max_vcpus: int | None = None,
                 recommended_vcpus: int | None = None) -> None:
        self._scripts = scripts
        self._max = len(scripts) if max_vcpus is None else max_vcpus
        self._recommended = len(scripts) if recommended_vcpus is None else recommended_vcpus
        self.vcpus: list[FakeVcpu] = []

    def create_vcpu(self, index: int) -> FakeVcpu:
        vcpu = FakeVcpu(self._scripts[index] if index < len(self._scripts) else [],
                        index=index)
        self.vcpus.append(vcpu)
        return vcpu

    @property
    def max_vcpus(self) -> int:
        return self._max

    @property
    def recommended_vcpus(self) -> int:
        return self._recommended

    def close(self) -> None:
        for vcpu in self.vcpus:
            vcpu.close()

"""The public entry point: one VM with guest RAM, one or more vCPUs, a UART, the hypercall
port, and the PICs and PIT of a PC, on a backend."""

from __future__ import annotations

import os
import sys

from vmm import loader
from vmm.backend import VcpuBackend, VmBackend
from vmm.bus import IoBus
from vmm.control import RunControl
from vmm.devices.console import ConsoleInput, ConsoleOutput
from vmm.devices.exceptions import ExceptionReporter
from vmm.devices.hypercall import HYPERCALL_PORT, HypercallDevice
from vmm.devices.uart import UART_IRQ, UART_PORT, UART_PORTS, Uart
from vmm.errors import CpuCountError, ImageError, VmmError
from vmm.faults import register_dump
from vmm.interrupts import Interrupts
from vmm.memory import GuestMemory
from vmm.modes import EXCEPTION_PORT, VCPU_STACK_SIZE, SystemLayout, boot_state, stack_pointer
from vmm.outcome import RunResult
from vmm.runloop import run as run_loop
from vmm.vocabulary import (
    BACKENDS,
    DEFAULT_BACKEND,
    DEFAULT_BASE,
    DEFAULT_KVM_PATH,
    DEFAULT_MEM_SIZE,
    ELF_MAGIC,
    BootMode,
    RunEnd,
)

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

    from vmm.monitor import Monitor
    from vmm.symbolizer import Symbolizer



def _stdout() -> BinaryIO:
    """The process's stdout, or a sink that drops everything when there is none (`>&-`)."""
    if sys.stdout is not None:
        return sys.stdout.buffer
    return open(os.devnull, "wb")  # noqa: SIM115 - lives as long as the process


def open_backend(name: str | Callable[[GuestMemory], VmBackend], memory: GuestMemory,
                 kvm_path: str = DEFAULT_KVM_PATH) -> VmBackend:
    """The backend called `name` over `memory` (or what a factory makes of it: a test's).
    "auto" is KVM where `kvm_path` is a usable KVM device, else the emulator."""
    if not isinstance(name, str):
        return name(memory)
    if name == "auto":
        from vmm.kvm.probe import kvm_usable

        name = "kvm" if kvm_usable(kvm_path) else "emu"
    if name == "kvm":
        from vmm.kvm.backend import KvmBackend  # cffi and the KVM bindings load only here

        return KvmBackend(memory, kvm_path)
    if name == "emu":
        from vmm.emu.backend import EmuBackend  # libunicorn loads only here

        return EmuBackend(memory)
    raise VmmError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")


def check_cpus(cpus: int, backend: VmBackend, warn: Callable[[str], None] | None) -> None:
    """Refuse a number of vCPUs the backend cannot run; warn (through `warn`) when it is more
    than the host runs in parallel."""
    _check_at_least_one(cpus)
    most = backend.max_vcpus
    if cpus > most:
        if most == 1:
            raise CpuCountError(f"{cpus}: the {backend.name} backend runs one vCPU only")
        raise CpuCountError(f"{cpus}: the {backend.name} backend runs at most {most} vCPUs")
    recommended = backend.recommended_vcpus
    if cpus > recommended and warn is not None:
        warn(f"{cpus} vCPUs, but {backend.name} recommends at most {recommended} on this host: "
             "they will share host CPUs (and spinning vCPUs slow the others down)")


def _check_at_least_one(cpus: int) -> None:
    if cpus < 1:
        raise CpuCountError(f"{cpus}: a guest needs at least one vCPU")


class Machine:
    """Owns every resource of one VM; `close()` (or `with`) releases all of them."""

    def __init__(
        self,
        mem_size: int = DEFAULT_MEM_SIZE,
        *,
        backend: str | Callable[[GuestMemory], VmBackend] = DEFAULT_BACKEND,
        output: BinaryIO | None = None,
        input: BinaryIO | None = None,
        kvm_path: str = DEFAULT_KVM_PATH,
        cpus: int = 1,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        """`cpus` vCPUs share the guest's memory and devices; `warn` hears about a setup that
        works but is worth knowing (more vCPUs than the host runs in parallel)."""
        _check_at_least_one(cpus)  # before anything is opened
        self.memory: GuestMemory | None = None
        self._backend: VmBackend | None = None
        self._loaded: list[loader.LoadedRange] = []
        self._control: RunControl | None = None
        try:
            self.memory = GuestMemory(mem_size)
            self._backend = open_backend(backend, self.memory, kvm_path)
            check_cpus(cpus, self._backend, warn)
            self.vcpus: list[VcpuBackend] = [self._backend.create_vcpu(i) for i in range(cpus)]
        except BaseException:
            self.close()
            raise
        self.vcpu = self.vcpus[0]
        self.backend_name = self._backend.name
        self.output = ConsoleOutput(output if output is not None else _stdout())
        self.input = ConsoleInput(input, cancelled=self._stopping)
        self.bus = IoBus()
        self.interrupts = Interrupts(on_sleep=self.output.flush)
        uart = Uart(self.output, self.input, irq=self.interrupts.line(UART_IRQ))
        self.interrupts.attach_uart(uart)
        self.bus.register(uart, UART_PORT, UART_PORTS)
        self.bus.register(HypercallDevice(self.output, self.input, cpus), HYPERCALL_PORT, 1)
        self.bus.register(ExceptionReporter(self.layout), EXCEPTION_PORT, 1)
        self.interrupts.register(self.bus)

    def _stopping(self) -> bool:
        return self._control is not None and self._control.stopping

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the vCPU, the VM and the backend's resources, and RAM (idempotent)."""
        interrupts = getattr(self, "interrupts", None)
        if interrupts is not None:
            interrupts.close()
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        if self.memory is not None:
            self.memory.close()
            self.memory = None

    @property
    def layout(self) -> SystemLayout:
        assert self.memory is not None
        return SystemLayout.for_memory(self.memory.size)

    def load_flat(self, data: bytes, address: int = DEFAULT_BASE) -> None:
        assert self.memory is not None
        self._loaded.append(loader.load_flat(self.memory, data, address))

    def load_elf(self, image: str | os.PathLike[str] | bytes, name: str | None = None
                 ) -> tuple[int, BootMode]:
        """Load an ELF; returns (entry, mode the ELF class implies)."""
        assert self.memory is not None
        entry, mode, ranges = loader.load_elf(self.memory, image, name)
        self._loaded.extend(ranges)
        return entry, mode

    def load_image(self, data: bytes, address: int = DEFAULT_BASE, name: str = "image"
                   ) -> tuple[int, BootMode | None]:
        """An ELF (told by its magic) at its own addresses, else a flat image at `address`.
        Returns (entry, the ELF's mode or None for a flat image)."""
        if not data:  # it would run zeroed memory into a fault that says nothing of the cause
            raise ImageError(f"{name}: an empty image: nothing to run")
        if data[:4] == ELF_MAGIC:
            return self.load_elf(data, name)
        self.load_flat(data, address)
        return address, None

    def _check_system_area(self, mode: BootMode) -> None:
        if mode is BootMode.REAL:
            return
        base = self.layout.base
        for r in self._loaded:
            if r.address + r.size > base:
                raise ImageError(
                    f"image at {r.address:#x}..{r.address + r.size - 1:#x} overlaps the system "
                    f"area (GDT and page tables at {base:#x}..{self.layout.mem_size - 1:#x}); "
                    "use more memory"
                )
        n = len(self.vcpus)
        if n > 1:  # each further vCPU's stack is 64 KiB below the one before
            low = base - n * VCPU_STACK_SIZE
            if low < 0 or any(r.address + r.size > low for r in self._loaded):
                raise ImageError(
                    f"{n} vCPUs need {n} x 64 KiB of stack below {base:#x}, which "
                    f"{'the image overlaps' if low >= 0 else 'RAM does not have'}; "
                    "use more memory"
                )

    def run(
        self,
        entry: int = DEFAULT_BASE,
        mode: BootMode = BootMode.REAL,
        *,
        timeout: float | None = None,
        strict: bool = False,
        monitor: Monitor | None = None,
        symbolizer: Symbolizer | None = None,
        registers: bool = False,
    ) -> RunResult:
        """Boot at `entry` in `mode` and run to the end; guest faults come back in the result,
        setup problems raise VmmError. `timeout` None or 0 means none; `monitor` (a tracer, a
        debugger) watches a run of one vCPU; `symbolizer` answers a report's questions about
        the program (source lines, labels); `registers` keeps the register dump of every
        end, a clean one too (one vCPU)."""
        assert self.memory is not None
        if monitor is not None:
            if len(self.vcpus) > 1:
                raise VmmError("a run with a tracer or a debugger has one vCPU")
            self.output.write_through()
        self._check_system_area(mode)
        regs, sregs = boot_state(mode, self.memory, entry)
        n = len(self.vcpus)
        for vcpu in self.vcpus:
            vcpu.set_sregs(sregs)
            vcpu.set_regs(regs.replace(rsp=stack_pointer(mode, regs.rsp, vcpu.index, n)))
        self._control = control = RunControl(self.vcpus)
        try:
            if n == 1:
                result = run_loop(self.vcpu, self.bus, self.memory, timeout=timeout,
                                  strict=strict, control=control, monitor=monitor,
                                  interrupts=self.interrupts)
            else:
                from vmm import smp  # threads only for a run of several vCPUs

                result = smp.run(self.vcpus, self.bus, self.memory, control, timeout=timeout,
                                 strict=strict, interrupts=self.interrupts)
        finally:
            self.interrupts.close()
            self.output.flush()
        if n == 1:
            if result.fault is not None:
                from vmm.explain import explain

                explain(result, self.vcpu, self.memory, symbolizer)
            if registers and result.register_dump is None:
                result.register_dump = register_dump(self.vcpu)
        result.stats.backend = self.backend_name
        result.stats.interrupts_by_irq = dict(self.interrupts.injected)
        if self.output.failure is not None:  # the guest's output is lost: not a clean run
            result.end = result.stats.end = RunEnd.OUTPUT_FAILED
            result.fault = self.output.failure
        return result


def run_flat(
    data: bytes,
    *,
    base: int = DEFAULT_BASE,
    entry: int | None = None,
    mode: BootMode = BootMode.REAL,
    mem_size: int = DEFAULT_MEM_SIZE,
    timeout: float | None = None,
    strict: bool = False,
    output: BinaryIO | None = None,
    input: BinaryIO | None = None,
    backend: str = DEFAULT_BACKEND,
    kvm_path: str = DEFAULT_KVM_PATH,
    cpus: int = 1,
    warn: Callable[[str], None] | None = None,
    monitor: Monitor | None = None,
    symbolizer: Symbolizer | None = None,
    registers: bool = False,
) -> RunResult:
    """Load a flat binary at `base` and run it from `entry` (default: `base`) on `cpus` vCPUs
    (`monitor`, `symbolizer`, `registers`: see Machine.run)."""
    with Machine(mem_size, backend=backend, output=output, input=input, kvm_path=kvm_path,
                 cpus=cpus, warn=warn) as m:
        m.load_flat(data, base)
        return m.run(base if entry is None else entry, mode, timeout=timeout, strict=strict,
                     monitor=monitor, symbolizer=symbolizer, registers=registers)


def run_elf(
    image: str | os.PathLike[str] | bytes,
    *,
    mode: BootMode | None = None,
    mem_size: int = DEFAULT_MEM_SIZE,
    timeout: float | None = None,
    strict: bool = False,
    output: BinaryIO | None = None,
    input: BinaryIO | None = None,
    backend: str = DEFAULT_BACKEND,
    kvm_path: str = DEFAULT_KVM_PATH,
    cpus: int = 1,
    warn: Callable[[str], None] | None = None,
    monitor: Monitor | None = None,
    symbolizer: Symbolizer | None = None,
    registers: bool = False,
) -> RunResult:
    """Load an ELF and run it from its entry point, in the mode its class implies (or `mode`),
    on `cpus` vCPUs (`monitor`, `symbolizer`, `registers`: see Machine.run)."""
    with Machine(mem_size, backend=backend, output=output, input=input, kvm_path=kvm_path,
                 cpus=cpus, warn=warn) as m:
        entry, elf_mode = m.load_elf(image)
        return m.run(entry, mode or elf_mode, timeout=timeout, strict=strict,
                     monitor=monitor, symbolizer=symbolizer, registers=registers)

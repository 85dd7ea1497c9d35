"""The public entry point: one VM with guest RAM, a UART, the hypercall port, and the PICs and
PIT of a PC, on a backend."""

from __future__ import annotations

import os
import sys

from vmm import loader
from vmm.backend import VcpuBackend, VmBackend
from vmm.bus import IoBus
from vmm.devices.console import ConsoleInput, ConsoleOutput
from vmm.devices.hypercall import HYPERCALL_PORT, HypercallDevice
from vmm.devices.uart import UART_IRQ, UART_PORT, UART_PORTS, Uart
from vmm.errors import ImageError, VmmError
from vmm.interrupts import Interrupts
from vmm.memory import GuestMemory
from vmm.modes import SystemLayout, boot_state
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
    ) -> None:
        self.memory: GuestMemory | None = None
        self._backend: VmBackend | None = None
        self._loaded: list[loader.LoadedRange] = []
        try:
            self.memory = GuestMemory(mem_size)
            self._backend = open_backend(backend, self.memory, kvm_path)
            self.vcpu: VcpuBackend = self._backend.create_vcpu(0)
        except BaseException:
            self.close()
            raise
        self.backend_name = self._backend.name
        self.output = ConsoleOutput(output if output is not None else _stdout())
        self.input = ConsoleInput(input, cancelled=self._stopping)
        self.bus = IoBus()
        self.interrupts = Interrupts(on_sleep=self.output.flush)
        uart = Uart(self.output, self.input, irq=self.interrupts.line(UART_IRQ))
        self.interrupts.attach_uart(uart)
        self.bus.register(uart, UART_PORT, UART_PORTS)
        self.bus.register(HypercallDevice(self.output, self.input), HYPERCALL_PORT, 1)
        self.interrupts.register(self.bus)

    def _stopping(self) -> bool:
        return self._backend is not None and self.vcpu.stop_requested

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

    def load_elf(self, image: str | os.PathLike[str] | bytes) -> tuple[int, BootMode]:
        """Load an ELF; returns (entry, mode the ELF class implies)."""
        assert self.memory is not None
        entry, mode, ranges = loader.load_elf(self.memory, image)
        self._loaded.extend(ranges)
        return entry, mode

    def load_image(self, data: bytes, address: int = DEFAULT_BASE) -> tuple[int, BootMode | None]:
        """An ELF (told by its magic) at its own addresses, else a flat image at `address`.
        Returns (entry, the ELF's mode or None for a flat image)."""
        if data[:4] == ELF_MAGIC:
            return self.load_elf(data)
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

    def run(
        self,
        entry: int = DEFAULT_BASE,
        mode: BootMode = BootMode.REAL,
        *,
        timeout: float | None = None,
        strict: bool = False,
    ) -> RunResult:
        """Boot at `entry` in `mode` and run to the end; guest faults come back in the result,
        setup problems raise VmmError. `timeout` None or 0 means none."""
        assert self.memory is not None
        self._check_system_area(mode)
        regs, sregs = boot_state(mode, self.memory, entry)
        self.vcpu.set_sregs(sregs)
        self.vcpu.set_regs(regs)
        try:
            result = run_loop(self.vcpu, self.bus, self.memory, timeout=timeout, strict=strict,
                              interrupts=self.interrupts)
        finally:
            self.interrupts.close()
            self.output.flush()
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
) -> RunResult:
    """Load a flat binary at `base` and run it from `entry` (default: `base`)."""
    with Machine(mem_size, backend=backend, output=output, input=input, kvm_path=kvm_path) as m:
        m.load_flat(data, base)
        return m.run(base if entry is None else entry, mode, timeout=timeout, strict=strict)


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
) -> RunResult:
    """Load an ELF and run it from its entry point, in the mode its class implies (or `mode`)."""
    with Machine(mem_size, backend=backend, output=output, input=input, kvm_path=kvm_path) as m:
        entry, elf_mode = m.load_elf(image)
        return m.run(entry, mode or elf_mode, timeout=timeout, strict=strict)

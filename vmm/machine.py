"""The public entry point: one VM with one vCPU, RAM, a UART and the hypercall port."""

from __future__ import annotations

import os
import sys

from vmm import loader
from vmm.bus import IoBus
from vmm.devices.console import ConsoleInput, ConsoleOutput
from vmm.devices.hypercall import HYPERCALL_PORT, HypercallDevice
from vmm.devices.uart import UART_PORT, UART_PORTS, Uart
from vmm.errors import ImageError
from vmm.kvm import Kvm, Vcpu, Vm
from vmm.kvm.system import DEFAULT_KVM_PATH
from vmm.memory import GuestMemory
from vmm.modes import BootMode, SystemLayout, boot_state
from vmm.outcome import ExitCode, RunResult
from vmm.runloop import run as run_loop

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import BinaryIO

DEFAULT_MEM_SIZE = 2 << 20
DEFAULT_BASE = 0x1000


def _stdout() -> BinaryIO:
    """The process's stdout, or a sink that drops everything when there is none (`>&-`)."""
    if sys.stdout is not None:
        return sys.stdout.buffer
    return open(os.devnull, "wb")  # noqa: SIM115 - lives as long as the process


class Machine:
    """Owns every resource of one VM; `close()` (or `with`) releases all of them."""

    def __init__(
        self,
        mem_size: int = DEFAULT_MEM_SIZE,
        *,
        output: BinaryIO | None = None,
        input: BinaryIO | None = None,
        kvm_path: str = DEFAULT_KVM_PATH,
    ) -> None:
        self._kvm: Kvm | None = None
        self._vm: Vm | None = None
        self.memory: GuestMemory | None = None
        self._loaded: list[loader.LoadedRange] = []
        try:
            self._kvm = Kvm(kvm_path)
            self.memory = GuestMemory(mem_size)
            self._vm = self._kvm.create_vm()
            for r in self.memory.regions():
                self._vm.set_user_memory_region(r.slot, r.guest_address, r.size, r.host_address)
            self._vm.setup_x86(self.memory.size)
            self.vcpu: Vcpu = self._vm.create_vcpu(0)
            # Always: a guest that switches itself to long mode needs real CPUID leaves.
            self.vcpu.set_cpuid(self._kvm.supported_cpuid())
        except BaseException:
            self.close()
            raise
        self.output = ConsoleOutput(output if output is not None else _stdout())
        self.input = ConsoleInput(input, cancelled=self._stopping)
        self.bus = IoBus()
        self.bus.register(Uart(self.output, self.input), UART_PORT, UART_PORTS)
        self.bus.register(HypercallDevice(self.output, self.input), HYPERCALL_PORT, 1)

    def _stopping(self) -> bool:
        return not self.vcpu.closed and self.vcpu.immediate_exit

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the vCPU, VM, /dev/kvm and RAM (idempotent)."""
        if self._vm is not None:
            self._vm.close()
            self._vm = None
        if self._kvm is not None:
            self._kvm.close()
            self._kvm = None
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
        setup problems raise VmmError."""
        assert self.memory is not None
        self._check_system_area(mode)
        regs, sregs = boot_state(mode, self.memory, entry)
        self.vcpu.set_sregs(sregs)
        self.vcpu.set_regs(regs)
        try:
            result = run_loop(self.vcpu, self.bus, self.memory, timeout=timeout, strict=strict)
        finally:
            self.output.flush()
        if self.output.failure is not None:  # the guest's output is lost: not a clean run
            result.fault = self.output.failure
            result.exit_code = ExitCode.VMM_ERROR
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
    kvm_path: str = DEFAULT_KVM_PATH,
) -> RunResult:
    """Load a flat binary at `base` and run it from `entry` (default: `base`)."""
    with Machine(mem_size, output=output, input=input, kvm_path=kvm_path) as m:
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
    kvm_path: str = DEFAULT_KVM_PATH,
) -> RunResult:
    """Load an ELF and run it from its entry point, in the mode its class implies (or `mode`)."""
    with Machine(mem_size, output=output, input=input, kvm_path=kvm_path) as m:
        entry, elf_mode = m.load_elf(image)
        return m.run(entry, mode or elf_mode, timeout=timeout, strict=strict)

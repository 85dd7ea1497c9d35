"""What the run loop needs from whatever executes the guest: the vCPU backend interface.

KVM implements it (vmm/kvm/), and so does the unicorn emulator (vmm/emu/); a test's scripted
fake implements it too, so the bus, devices, statistics and the run loop are tested without
/dev/kvm. Nothing above this interface knows which backend runs the guest.

A backend opens a VM over a GuestMemory (`VmBackend`), makes vCPUs (`VcpuBackend`), and each
vCPU runs until the guest needs the VMM, returning the exit as a value from vmm.exits.
"""

from __future__ import annotations

from vmm.cpu import Registers, SpecialRegisters, snapshot_of
from vmm.vocabulary import CpuMode

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from vmm.exits import Exit


class CpuState:
    """The vCPU's registers at the current exit, read cheaply and only when asked (a
    hypercall reads one or two registers; copying them all on every exit would cost more)."""

    __slots__ = ()

    def reg(self, name: str) -> int:
        """A general register, RIP or RFLAGS by its 64-bit name ('rbx')."""
        raise NotImplementedError

    def set_reg(self, name: str, value: int) -> None:
        """Write a register for the guest to see when it resumes."""
        raise NotImplementedError

    @property
    def mode(self) -> CpuMode:
        raise NotImplementedError

    @property
    def width(self) -> int:
        """The operand width of the mode right now: 16, 32 or 64."""
        raise NotImplementedError

    def control_registers(self) -> tuple[int, int, int, int]:
        """(CR0, CR3, CR4, EFER): what a page walk needs."""
        raise NotImplementedError

    def segment_base(self, name: str) -> int:
        raise NotImplementedError


class VcpuBackend:
    """One virtual CPU. `run` and the register calls belong to the thread that runs it;
    `request_stop` may be called from any thread (a watchdog, a signal handler, another
    vCPU's thread)."""

    index: int = 0
    state: CpuState

    def run(self) -> Exit:
        """Run the guest until it needs the VMM; a requested stop returns Interrupted."""
        raise NotImplementedError

    def complete_io_in(self, data: bytes) -> None:
        """Answer the IN that the last exit asked for, before the next `run`."""
        raise NotImplementedError

    def get_regs(self) -> Registers:
        raise NotImplementedError

    def set_regs(self, regs: Registers) -> None:
        raise NotImplementedError

    def get_sregs(self) -> SpecialRegisters:
        raise NotImplementedError

    def set_sregs(self, sregs: SpecialRegisters) -> None:
        raise NotImplementedError

    def snapshot(self) -> tuple[int, ...]:
        """The registers at this exit as one tuple (vmm.cpu.SNAPSHOT_NAMES), for a tracer that
        compares them after every instruction; backends make it cheaper than this."""
        return snapshot_of(self.get_regs(), self.get_sregs())

    def set_guest_debug(self, single_step: bool = False, breakpoints: tuple[int, ...] = ()
                        ) -> None:
        """Make `run` return a Debug exit after every instruction (`single_step`) and before
        the instruction at any of `breakpoints` (guest linear addresses); no arguments: none.
        Every other exit stays as it is: a HLT is still a Hlt exit, an OUT an IoOut."""
        raise NotImplementedError

    def request_stop(self) -> None:
        """Make the current or next `run` return Interrupted as soon as possible."""
        raise NotImplementedError

    # --- external interrupts (vmm.interrupts drives these on the vCPU's thread) ---------------
    def expect_interrupts(self) -> None:
        """Interrupts may be injected and kicks may come from now on (called once)."""

    def interrupt_ready(self) -> bool:
        """Whether the guest can take an external interrupt at the next `run` (IF set, no
        interrupt shadow, nothing injected still waiting)."""
        raise NotImplementedError

    def inject_interrupt(self, vector: int) -> None:
        """Deliver external interrupt `vector` through the guest's IVT or IDT as the next
        `run` starts; only when `interrupt_ready()`."""
        raise NotImplementedError

    def request_interrupt_window(self, wanted: bool) -> None:
        """While wanted, `run` returns IrqWindowOpen as soon as the guest can take one."""
        raise NotImplementedError

    def kick(self) -> None:
        """From any thread: make the current or next `run` return Interrupted soon, without
        stopping the run (a timer tick for a guest that makes no exits)."""
        raise NotImplementedError

    def clear_stop(self) -> None:
        """Forget a stop request; called by the thread that ran the vCPU once it is done with
        it, so that no later `request_stop` reaches for that thread."""
        raise NotImplementedError

    @property
    def stop_requested(self) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class VmBackend:
    """A VM over guest memory that makes vCPUs. `name` is what `--stats` reports."""

    name: str = ""

    def create_vcpu(self, index: int) -> VcpuBackend:
        raise NotImplementedError

    @property
    def max_vcpus(self) -> int:
        """The most vCPUs one VM can have. A backend that runs one vCPU only keeps this
        default; one that runs several must allow each vCPU's `run` on its own thread while
        the others run (vmm.smp runs them so)."""
        return 1

    @property
    def recommended_vcpus(self) -> int:
        """The most vCPUs that can run in parallel without overcommitting the host."""
        return 1

    def close(self) -> None:
        raise NotImplementedError

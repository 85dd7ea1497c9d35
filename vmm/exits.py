"""Why KVM_RUN returned, as small immutable values the run loop can match on."""

from __future__ import annotations

from vmm.values import Value


class IoOut(Value):
    """OUT/OUTS: `data` holds every repetition (len == size * count) in order."""

    __slots__ = ("port", "size", "data")
    kvm_name = "io"

    def __init__(self, port: int, size: int, data: bytes) -> None:
        self.port = port
        self.size = size
        self.data = data

    @property
    def count(self) -> int:
        return len(self.data) // self.size if self.size else 0


class IoIn(Value):
    """IN/INS: the VMM must answer with size * count bytes before the next run."""

    __slots__ = ("port", "size", "count")
    kvm_name = "io"

    def __init__(self, port: int, size: int, count: int = 1) -> None:
        self.port = port
        self.size = size
        self.count = count


class Mmio(Value):
    """An access to guest-physical memory that is not RAM."""

    __slots__ = ("address", "data", "size", "is_write")
    kvm_name = "mmio"

    def __init__(self, address: int, data: bytes, size: int, is_write: bool) -> None:
        self.address = address
        self.data = data
        self.size = size
        self.is_write = is_write


class Hlt(Value):
    __slots__ = ()
    kvm_name = "hlt"


class Shutdown(Value):
    """Triple fault (or a reset request): the guest is dead. `cause` names the exception that
    could not be delivered when the backend knows it (the emulator does; KVM does not say)."""

    __slots__ = ("cause",)
    kvm_name = "shutdown"

    def __init__(self, cause: str | None = None) -> None:
        self.cause = cause


class FailEntry(Value):
    """The CPU refused to enter the guest (invalid guest state)."""

    __slots__ = ("reason",)
    kvm_name = "fail_entry"

    def __init__(self, reason: int) -> None:
        self.reason = reason


# InternalError suberrors, numbered as KVM numbers them (KVM_INTERNAL_ERROR_*).
EMULATION_FAILURE = 1
INTERNAL_ERROR_NAMES: dict[int, str] = {
    EMULATION_FAILURE: "emulation failure",
    2: "simultaneous exceptions",
    3: "unexpected exit during event delivery",
    4: "unexpected exit reason",
}


class InternalError(Value):
    """The backend gave up, e.g. KVM's instruction emulator does not know an instruction."""

    __slots__ = ("suberror", "data")
    kvm_name = "internal_error"

    def __init__(self, suberror: int, data: tuple[int, ...] = ()) -> None:
        self.suberror = suberror
        self.data = data


class Interrupted(Value):
    """KVM_RUN returned EINTR: a signal or immediate_exit stopped it (watchdog, Ctrl-C)."""

    __slots__ = ()
    kvm_name = "intr"


class IrqWindowOpen(Value):
    """The guest can take an interrupt now (asked for with request_interrupt_window)."""

    __slots__ = ()
    kvm_name = "irq_window_open"


class Unknown(Value):
    """Any exit reason this VMM does not handle; `name` is KVM's, when known."""

    __slots__ = ("reason", "name")
    kvm_name = "unknown"

    def __init__(self, reason: int, name: str = "unknown") -> None:
        self.reason = reason
        self.name = name


class Debug(Value):
    """The vCPU stopped for its debugger (see VcpuBackend.set_guest_debug): after one
    instruction when single-stepping, or before the instruction at a breakpoint. `pc` is the
    guest linear address of the next instruction. Never counted as a guest exit."""

    __slots__ = ("pc", "breakpoint")
    kvm_name = "debug"

    def __init__(self, pc: int, breakpoint: bool = False) -> None:
        self.pc = pc
        self.breakpoint = breakpoint


Exit = (IoOut | IoIn | Mmio | Hlt | Shutdown | FailEntry | InternalError | Interrupted | Debug
        | IrqWindowOpen | Unknown)

HLT = Hlt()
SHUTDOWN = Shutdown()
INTERRUPTED = Interrupted()
IRQ_WINDOW_OPEN = IrqWindowOpen()


def exit_name(exit: Exit) -> str:
    """The lower-case KVM name used as a key in the exit statistics."""
    if isinstance(exit, Unknown):
        return exit.name
    return exit.kvm_name

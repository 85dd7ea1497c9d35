"""Why KVM_RUN returned, as small immutable values the run loop can match on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class IoOut:
    """OUT/OUTS: `data` holds every repetition (len == size * count) in order."""

    kvm_name: ClassVar[str] = "io"
    port: int
    size: int
    data: bytes

    @property
    def count(self) -> int:
        return len(self.data) // self.size if self.size else 0


@dataclass(frozen=True, slots=True)
class IoIn:
    """IN/INS: the VMM must answer with size * count bytes before the next run."""

    kvm_name: ClassVar[str] = "io"
    port: int
    size: int
    count: int = 1


@dataclass(frozen=True, slots=True)
class Mmio:
    """An access to guest-physical memory that is not RAM."""

    kvm_name: ClassVar[str] = "mmio"
    address: int
    data: bytes
    size: int
    is_write: bool


@dataclass(frozen=True, slots=True)
class Hlt:
    kvm_name: ClassVar[str] = "hlt"


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Triple fault (or a reset request): the guest is dead."""

    kvm_name: ClassVar[str] = "shutdown"


@dataclass(frozen=True, slots=True)
class FailEntry:
    """The CPU refused to enter the guest (invalid guest state)."""

    kvm_name: ClassVar[str] = "fail_entry"
    reason: int


@dataclass(frozen=True, slots=True)
class InternalError:
    """KVM gave up, e.g. its instruction emulator does not know an instruction."""

    kvm_name: ClassVar[str] = "internal_error"
    suberror: int
    data: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Interrupted:
    """KVM_RUN returned EINTR: a signal or immediate_exit stopped it (watchdog, Ctrl-C)."""

    kvm_name: ClassVar[str] = "intr"


@dataclass(frozen=True, slots=True)
class Unknown:
    """Any exit reason this VMM does not handle; `name` is KVM's, when known."""

    kvm_name: ClassVar[str] = "unknown"
    reason: int
    name: str = "unknown"


Exit = IoOut | IoIn | Mmio | Hlt | Shutdown | FailEntry | InternalError | Interrupted | Unknown

HLT = Hlt()
SHUTDOWN = Shutdown()
INTERRUPTED = Interrupted()


def exit_name(exit: Exit) -> str:
    """The lower-case KVM name used as a key in the exit statistics."""
    if isinstance(exit, Unknown):
        return exit.name
    return exit.kvm_name

"""The contract between the VMM and a device: what a device sees, and how it answers.

A device owns a range of I/O ports on the bus. It sees each access as plain integers and
bytes, and the vCPU only through a CpuView (registers as ints, guest memory through the guest's
own segments and page tables); it never sees a KVM structure or an emulator object. It talks
back by returning an action (Stop or Fault), or None to let the guest go on.

Plain base classes, not `typing.Protocol`: importing `typing` costs a `kasm run` start-up
time it does not need. Subclass Device and CpuView; type checkers read them as usual.
"""

from __future__ import annotations

from collections.abc import Iterator

from vmm.values import Value
from vmm.vocabulary import CpuMode, RunEnd


class Stop(Value):
    """End the run without a fault: `end` says how (RunEnd.HC_EXIT), `status` is the guest's."""

    __slots__ = ("end", "status")

    def __init__(self, end: RunEnd, status: int = 0) -> None:
        self.end = end
        self.status = status


# Stdout's reader went away (`kasm run ... | head`): stop the guest, as SIGPIPE would.
OUTPUT_CLOSED = Stop(RunEnd.OUTPUT_CLOSED)


class Fault(Value):
    """End the run as a guest fault: `end` is the fault's kind, `message` says what the guest
    did (the run loop adds where), `vector` the exception it raised when there was one."""

    __slots__ = ("end", "message", "vector")

    def __init__(self, end: RunEnd, message: str, vector: int | None = None) -> None:
        self.end = end
        self.message = message
        self.vector = vector


Action = Stop | Fault


class CpuView:
    """What a device may know about the vCPU at the access that reached it.

    Registers read as attributes (`cpu.rbx`, `cpu.rip`); `set_reg` writes one for the guest
    to see when it resumes. Pointers are guest linear addresses (`linear` applies a segment
    base), translated through the guest's page tables when paging is on; a bad one raises
    GuestMemoryError, which the run loop reports as the guest's fault.
    """

    __slots__ = ()

    rax: int
    rbx: int
    rcx: int
    rdx: int
    rsi: int
    rdi: int
    rsp: int
    rbp: int
    rip: int
    rflags: int

    @property
    def mode(self) -> CpuMode:
        raise NotImplementedError

    @property
    def width(self) -> int:
        """16, 32 or 64: the operand width of the mode the CPU is in now."""
        raise NotImplementedError

    @property
    def cpu_index(self) -> int:
        """Which vCPU made the access (0 for the first)."""
        raise NotImplementedError

    def set_reg(self, name: str, value: int) -> None:
        raise NotImplementedError

    def linear(self, offset: int, segment: str = "ds") -> int:
        raise NotImplementedError

    def read(self, address: int, length: int) -> bytes:
        raise NotImplementedError

    def read_chunks(self, address: int, length: int) -> Iterator[bytes]:
        raise NotImplementedError

    def read_cstring(self, address: int, limit: int = 1 << 16) -> bytes:
        raise NotImplementedError


class Device:
    """A port-I/O device: offsets are relative to the base it was registered at."""

    def io_write(self, offset: int, data: bytes, cpu: CpuView) -> Action | None:
        """An OUT of `data` (one access of len(data) bytes)."""
        raise NotImplementedError

    def io_read(self, offset: int, size: int) -> bytes:
        """An IN of `size` bytes; return exactly that many."""
        raise NotImplementedError

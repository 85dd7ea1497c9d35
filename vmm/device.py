"""The interfaces between devices and the VMM: a Device implements `io_write`/`io_read`, and
sees the vCPU only through a CpuView. The bus duck-types devices, so nothing imports this at
run time except type checkers and users who subclass it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from vmm.bus import Action


class CpuView(Protocol):
    """What a device may know about the vCPU at the access: registers, mode, guest memory.

    Pointers are guest linear addresses (segment base applied by `linear`), translated through
    the guest's page tables when paging is on; bad ones raise GuestMemoryError.
    """

    rax: int
    rbx: int
    rcx: int
    rdx: int
    rsi: int
    rdi: int
    rsp: int
    rbp: int
    rip: int

    @property
    def mode(self) -> str: ...

    @property
    def width(self) -> int: ...

    def linear(self, offset: int, segment: str = "ds") -> int: ...

    def read(self, address: int, length: int) -> bytes: ...

    def read_chunks(self, address: int, length: int) -> Iterator[bytes]: ...

    def read_cstring(self, address: int, limit: int = 1 << 16) -> bytes: ...


@runtime_checkable
class Device(Protocol):
    """A port-I/O device: offsets are relative to the base it was registered at."""

    def io_write(self, offset: int, data: bytes, cpu: CpuView) -> Action | None: ...

    def io_read(self, offset: int, size: int) -> bytes: ...

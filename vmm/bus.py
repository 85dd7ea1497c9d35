"""Port I/O routing: devices own port ranges, and talk back only through returned actions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vmm.errors import VmmError


@dataclass(frozen=True, slots=True)
class Stop:
    """End the run normally: `end` is the stats end name ("hc_exit"), `status` the guest's."""

    end: str
    status: int


# Stdout's reader went away (`kasm run ... | head`): stop the guest, as SIGPIPE would.
OUTPUT_CLOSED = Stop("output_closed", 0)


@dataclass(frozen=True, slots=True)
class Fault:
    """End the run as a guest fault: `kind` is the stats end name, `message` says what happened."""

    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class Return:
    """Give the guest a result in AX/EAX/RAX (the width of the mode at the call)."""

    value: int


Action = Stop | Fault | Return


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


class IoBus:
    """Maps each port to (device, offset); counts accesses to ports nobody owns."""

    def __init__(self) -> None:
        self._ports: dict[int, tuple[Device, int]] = {}
        self.unowned: dict[int, int] = {}

    def register(self, device: Device, base: int, length: int) -> None:
        if length <= 0 or base < 0 or base + length > 0x10000:
            raise VmmError(f"bus: bad port range {base:#x}+{length}")
        for port in range(base, base + length):
            if port in self._ports:
                other = type(self._ports[port][0]).__name__
                raise VmmError(f"bus: port {port:#x} already owned by {other}")
        for port in range(base, base + length):
            self._ports[port] = (device, port - base)

    def owns(self, port: int) -> bool:
        return port in self._ports

    def write(self, port: int, data: bytes, cpu: CpuView, size: int = 0) -> Action | None:
        """One OUT (or every repetition of an OUTS, `size` bytes each): first action wins."""
        entry = self._ports.get(port)
        if entry is None:
            self.unowned[port] = self.unowned.get(port, 0) + 1
            return None
        device, offset = entry
        if not size or size >= len(data):
            return device.io_write(offset, data, cpu)
        for i in range(0, len(data), size):
            action = device.io_write(offset, data[i : i + size], cpu)
            if action is not None:
                return action
        return None

    def read(self, port: int, size: int, count: int = 1) -> bytes:
        """One IN (or INS): unowned ports read as all ones, like an empty ISA bus."""
        entry = self._ports.get(port)
        if entry is None:
            self.unowned[port] = self.unowned.get(port, 0) + 1
            return b"\xff" * (size * count)
        device, offset = entry
        if count == 1:
            return device.io_read(offset, size)
        return b"".join(device.io_read(offset, size) for _ in range(count))

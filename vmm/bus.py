"""Port I/O routing: each port belongs to at most one device; the bus forwards an access to
it and hands back the device's action. It knows nothing of registers or KVM."""

from __future__ import annotations

from vmm.errors import VmmError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~5 ms of start-up
if TYPE_CHECKING:
    from vmm.device import Action, CpuView, Device


class PortIo:
    """What a run loop reaches devices through: IoBus itself, or a view of it (vmm.smp's,
    shared by several vCPUs)."""

    def owns(self, port: int) -> bool:
        raise NotImplementedError

    def write(self, port: int, data: bytes, cpu: CpuView, size: int = 0) -> Action | None:
        raise NotImplementedError

    def read(self, port: int, size: int, count: int = 1) -> bytes:
        raise NotImplementedError


class IoBus(PortIo):
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

    def device_at(self, port: int) -> Device | None:
        entry = self._ports.get(port)
        return None if entry is None else entry[0]

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

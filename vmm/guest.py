"""The guest CPU as devices see it: registers at the current exit, and guest memory reached
the way the guest reaches it (segment base, then its own page tables)."""

from __future__ import annotations

from collections.abc import Iterator

from vmm.backend import CpuState
from vmm.cpu import CR0_PG
from vmm.device import CpuView
from vmm.errors import GuestMemoryError
from vmm.memory import PAGE_SIZE, GuestMemory
from vmm.paging import translate
from vmm.vocabulary import CpuMode


class GuestCpu(CpuView):
    """A CpuView over one vCPU's live state and the guest's RAM."""

    __slots__ = ("_state", "_memory", "_index")

    def __init__(self, state: CpuState, memory: GuestMemory, index: int = 0) -> None:
        self._state = state
        self._memory = memory
        self._index = index

    def __getattr__(self, name: str) -> int:
        # Registers by name (rax, rbx, ..., rip, rflags); only reached for non-slot attributes.
        try:
            return self._state.reg(name)
        except AttributeError:
            raise AttributeError(name) from None

    @property
    def rbx(self) -> int:  # the hypercall argument: the hot one
        return self._state.reg("rbx")

    @property
    def rip(self) -> int:  # read at every hypercall (HypercallDevice checks the instruction)
        return self._state.reg("rip")

    @property
    def mode(self) -> CpuMode:
        return self._state.mode

    @property
    def width(self) -> int:
        return self._state.width

    @property
    def cpu_index(self) -> int:
        return self._index

    def set_reg(self, name: str, value: int) -> None:
        self._state.set_reg(name, value)

    def linear(self, offset: int, segment: str = "ds") -> int:
        if self._state.mode is CpuMode.LONG:
            return offset
        return (self._state.segment_base(segment) + offset) & 0xFFFF_FFFF

    def physical(self, linear: int) -> int:
        cr0, cr3, cr4, efer = self._state.control_registers()
        return translate(self._memory, cr0, cr3, cr4, efer, linear)

    def _ranges(self, address: int, length: int) -> list[tuple[int, int]]:
        """Physical (start, length) pieces of a linear range, all checked before any is read."""
        size = self._memory.size
        if length > size:
            raise GuestMemoryError(
                f"guest range of {length} bytes at {address:#x} is larger than guest RAM "
                f"({size:#x} bytes)",
                address,
            )
        cr0 = self._state.control_registers()[0]
        if not cr0 & CR0_PG:
            self._memory.check(address, length)
            return [(address, length)]
        pieces: list[tuple[int, int]] = []
        end = address + length
        while address < end:
            n = min(end - address, PAGE_SIZE - (address & (PAGE_SIZE - 1)))
            phys = self.physical(address)
            self._memory.check(phys, n)
            if pieces and pieces[-1][0] + pieces[-1][1] == phys:
                pieces[-1] = (pieces[-1][0], pieces[-1][1] + n)
            else:
                pieces.append((phys, n))
            address += n
        return pieces

    def read(self, address: int, length: int) -> bytes:
        return b"".join(self._memory.read(p, n) for p, n in self._ranges(address, length))

    def read_chunks(self, address: int, length: int) -> Iterator[bytes]:
        for phys, n in self._ranges(address, length):
            yield from self._memory.iter_chunks(phys, n)

    def read_cstring(self, address: int, limit: int = 1 << 16) -> bytes:
        out = bytearray()
        while len(out) < limit:
            n = min(limit - len(out), PAGE_SIZE - (address & (PAGE_SIZE - 1)))
            phys = self.physical(address)
            self._memory.check(phys, 1)
            chunk = self._memory.read(phys, min(n, self._memory.size - phys))
            nul = chunk.find(b"\0")
            if nul >= 0:
                return bytes(out + chunk[:nul])
            out += chunk
            address += len(chunk)
        raise GuestMemoryError(f"guest string has no NUL within {limit} bytes", address)

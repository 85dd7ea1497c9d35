"""Guest memory at the linear addresses gdb uses ('m', 'M', 'X'), through the guest's page
tables as they are when the guest is stopped."""

from __future__ import annotations

from collections.abc import Iterator

from vmm.cpu import SpecialRegisters
from vmm.errors import GuestMemoryError
from vmm.memory import PAGE_SIZE, GuestMemory
from vmm.paging import translate


def _pieces(memory: GuestMemory, sregs: SpecialRegisters, address: int,
            length: int) -> Iterator[tuple[int, int]]:
    """(guest-physical address, length) of each page's part of the range, in order; raises
    GuestMemoryError at the first piece that is unmapped or not RAM."""
    end = address + length
    while address < end:
        n = min(end - address, PAGE_SIZE - (address & (PAGE_SIZE - 1)))
        phys = translate(memory, sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer, address)
        memory.check(phys, n)
        yield phys, n
        address += n


def read(memory: GuestMemory, sregs: SpecialRegisters, address: int, length: int) -> bytes:
    """As many bytes from `address` on as can be read, up to `length` (gdb accepts a short
    read); GuestMemoryError when not even the first byte can."""
    out = bytearray()
    try:
        for phys, n in _pieces(memory, sregs, address, length):
            out += memory.read(phys, n)
    except GuestMemoryError:
        if not out:
            raise
    return bytes(out)


def write(memory: GuestMemory, sregs: SpecialRegisters, address: int, data: bytes) -> None:
    """All of `data`, or nothing (every page is checked before the first byte is written)."""
    pieces = list(_pieces(memory, sregs, address, len(data)))
    offset = 0
    for phys, n in pieces:
        memory.write(phys, data[offset : offset + n])
        offset += n

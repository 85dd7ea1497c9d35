"""Guest linear -> guest physical, by walking the guest's own page tables.

Hypercall pointers and fault reports use linear addresses; a guest may have replaced the boot
page tables, so we read its tables rather than assume the identity map.
"""

from __future__ import annotations

from vmm.cpu import CR0_PG, CR4_PAE, CR4_PSE, EFER_LMA
from vmm.errors import GuestMemoryError
from vmm.memory import GuestMemory

_P = 0x1
_PS = 0x80
_ADDR = 0x000F_FFFF_FFFF_F000


class NotMapped(GuestMemoryError):
    """A linear address whose walk reached a not-present entry of the guest's page tables."""


def _entry(memory: GuestMemory, table: int, index: int, size: int, linear: int) -> int:
    address = table + index * size
    if not memory.contains(address, size):
        raise GuestMemoryError(
            f"guest page table at {table:#x} (walking {linear:#x}) is outside guest RAM", linear
        )
    e = int.from_bytes(memory.read(address, size), "little")
    if not e & _P:
        raise NotMapped(f"guest linear address {linear:#x} is not mapped", linear)
    return e


def translate(memory: GuestMemory, cr0: int, cr3: int, cr4: int, efer: int, linear: int) -> int:
    """The guest-physical address of `linear` under the given control registers."""
    if not cr0 & CR0_PG:
        return linear
    if efer & EFER_LMA:
        linear &= 0xFFFF_FFFF_FFFF_FFFF
        e = _entry(memory, cr3 & _ADDR, (linear >> 39) & 511, 8, linear)
        e = _entry(memory, e & _ADDR, (linear >> 30) & 511, 8, linear)
        if e & _PS:
            return (e & _ADDR & ~((1 << 30) - 1)) | (linear & ((1 << 30) - 1))
        e = _entry(memory, e & _ADDR, (linear >> 21) & 511, 8, linear)
        if e & _PS:
            return (e & _ADDR & ~((1 << 21) - 1)) | (linear & ((1 << 21) - 1))
        e = _entry(memory, e & _ADDR, (linear >> 12) & 511, 8, linear)
        return (e & _ADDR) | (linear & 0xFFF)
    linear &= 0xFFFF_FFFF
    if cr4 & CR4_PAE:
        e = _entry(memory, cr3 & 0xFFFF_FFE0, (linear >> 30) & 3, 8, linear)
        e = _entry(memory, e & _ADDR, (linear >> 21) & 511, 8, linear)
        if e & _PS:
            return (e & _ADDR & ~((1 << 21) - 1)) | (linear & ((1 << 21) - 1))
        e = _entry(memory, e & _ADDR, (linear >> 12) & 511, 8, linear)
        return (e & _ADDR) | (linear & 0xFFF)
    e = _entry(memory, cr3 & 0xFFFF_F000, linear >> 22, 4, linear)
    if e & _PS and cr4 & CR4_PSE:
        return (e & 0xFFC0_0000) | (linear & 0x3F_FFFF)
    e = _entry(memory, e & 0xFFFF_F000, (linear >> 12) & 1023, 4, linear)
    return (e & 0xFFFF_F000) | (linear & 0xFFF)


def read_linear(memory: GuestMemory, cr0: int, cr3: int, cr4: int, efer: int, linear: int,
                length: int) -> bytes:
    """Up to `length` bytes at guest linear `linear` (fewer where the range leaves RAM or the
    mapping ends): what a report or a debugger shows of guest code."""
    out = bytearray()
    while len(out) < length:
        at = linear + len(out)
        try:
            phys = translate(memory, cr0, cr3, cr4, efer, at)
        except GuestMemoryError:
            break
        n = min(length - len(out), 0x1000 - (at & 0xFFF), memory.size - phys)
        if n <= 0:
            break
        out += memory.read(phys, n)
    return bytes(out)

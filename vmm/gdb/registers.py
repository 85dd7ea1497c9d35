"""The vCPU's registers in a target description's layout, both ways ('g'/'G', 'p'/'P').

gdb knows no segments, so the program counter it sees is the linear address of the next
instruction (CS base + IP/EIP outside long mode): the address breakpoints, Debug exits, symbols
and memory accesses all use. With kasm's boot state (CS base 0) that is IP/EIP itself. A
32-bit layout shown while the guest runs in long mode (it switched) has the low halves; a
write through it keeps the high halves.
"""

from __future__ import annotations

from vmm.backend import VcpuBackend
from vmm.cpu import CR0_PE, EFER_LMA, Registers, SpecialRegisters
from vmm.gdb.target import Description, Reg

_GENERAL = {"eax": "rax", "ecx": "rcx", "edx": "rdx", "ebx": "rbx", "esp": "rsp",
            "ebp": "rbp", "esi": "rsi", "edi": "rdi", "eflags": "rflags"}
_SEGMENTS = {"cs", "ss", "ds", "es", "fs", "gs"}
_CONTROL = {"cr0", "cr2", "cr3", "cr4", "efer"}


class RegisterError(Exception):
    """A register gdb may not write (or does not exist): the reply is an E packet."""


def _long(sregs: SpecialRegisters) -> bool:
    return bool(sregs.efer & EFER_LMA and sregs.cs.l)


def linear_pc(regs: Registers, sregs: SpecialRegisters) -> int:
    """The linear address of the next instruction."""
    if _long(sregs):
        return regs.rip
    return (sregs.cs.base + regs.rip) & 0xFFFF_FFFF


def set_pc(vcpu: VcpuBackend, linear: int) -> None:
    """Make the guest go on at a linear address (gdb's `c ADDR`, `jump`)."""
    regs, sregs = vcpu.get_regs(), vcpu.get_sregs()
    regs.rip = linear if _long(sregs) else (linear - sregs.cs.base) & 0xFFFF_FFFF
    vcpu.set_regs(regs)


def _value(reg: Reg, regs: Registers, sregs: SpecialRegisters) -> int | None:
    name = reg.name
    if reg.group == "float":
        return None
    if name in ("eip", "rip"):
        return linear_pc(regs, sregs)
    if name in _SEGMENTS:
        return getattr(sregs, name).selector
    if name in ("fs_base", "gs_base"):
        return getattr(sregs, name[:2]).base
    if name in _CONTROL:
        return getattr(sregs, name)
    return getattr(regs, _GENERAL.get(name, name))


def _hex(reg: Reg, value: int | None) -> str:
    if value is None:
        return "xx" * reg.size  # gdb shows it as <unavailable>
    mask = (1 << reg.bits) - 1
    return (value & mask).to_bytes(reg.size, "little").hex()


def read_all(description: Description, vcpu: VcpuBackend) -> bytes:
    """The 'g' reply."""
    regs, sregs = vcpu.get_regs(), vcpu.get_sregs()
    return "".join(_hex(r, _value(r, regs, sregs)) for r in description.registers).encode()


def read_one(description: Description, vcpu: VcpuBackend, number: int) -> bytes:
    """The 'p' reply; RegisterError for a number the description does not have."""
    if not 0 <= number < len(description.registers):
        raise RegisterError(f"no register {number}")
    reg = description.registers[number]
    return _hex(reg, _value(reg, vcpu.get_regs(), vcpu.get_sregs())).encode()


def write_one(description: Description, vcpu: VcpuBackend, number: int, data: bytes) -> None:
    """'P': `data` is the register's little-endian bytes."""
    if not 0 <= number < len(description.registers):
        raise RegisterError(f"no register {number}")
    reg = description.registers[number]
    if len(data) != reg.size:
        raise RegisterError(f"{reg.name} has {reg.size} bytes, not {len(data)}")
    if reg.group == "float":
        raise RegisterError(f"{reg.name}: the FPU is not available")
    regs, sregs = vcpu.get_regs(), vcpu.get_sregs()
    _store(reg, int.from_bytes(data, "little"), regs, sregs)
    vcpu.set_sregs(sregs)
    vcpu.set_regs(regs)


def write_all(description: Description, vcpu: VcpuBackend, data: bytes) -> None:
    """'G': every register at once (the FPU's bytes, which gdb sends too, are ignored)."""
    if len(data) != sum(r.size for r in description.registers):
        raise RegisterError(f"{len(data)} bytes of registers, expected "
                            f"{sum(r.size for r in description.registers)}")
    regs, sregs = vcpu.get_regs(), vcpu.get_sregs()
    offset = 0
    for reg in description.registers:
        value = int.from_bytes(data[offset : offset + reg.size], "little")
        offset += reg.size
        if reg.group != "float" and value != _value(reg, regs, sregs):
            _store(reg, value, regs, sregs)
    vcpu.set_sregs(sregs)
    vcpu.set_regs(regs)


def _store(reg: Reg, value: int, regs: Registers, sregs: SpecialRegisters) -> None:
    name = reg.name
    if name in ("eip", "rip"):
        if not _long(sregs):
            value = (value - sregs.cs.base) & 0xFFFF_FFFF
        regs.rip = _merge(reg, regs.rip, value)
    elif name in _SEGMENTS:
        segment = getattr(sregs, name)
        if value == segment.selector:
            return
        if sregs.cr0 & CR0_PE:  # a descriptor from the GDT: leave that to the guest
            raise RegisterError(f"{name}: a segment register can be set in real mode only")
        segment.selector, segment.base = value & 0xFFFF, (value & 0xFFFF) << 4
    elif name in ("fs_base", "gs_base"):
        getattr(sregs, name[:2]).base = value
    elif name in _CONTROL:
        setattr(sregs, name, value)
    elif name == "eflags":
        regs.rflags = _merge(reg, regs.rflags, value) | 0x2
    else:
        field = _GENERAL.get(name, name)
        setattr(regs, field, _merge(reg, getattr(regs, field), value))


def _merge(reg: Reg, old: int, value: int) -> int:
    """A register narrower than 64 bits replaces the low bits only."""
    mask = (1 << reg.bits) - 1
    return (old & ~mask & 0xFFFF_FFFF_FFFF_FFFF) | (value & mask)

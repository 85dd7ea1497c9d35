"""Instructions the VMM completes itself when the backend's instruction emulator gives up.

KVM's PVM flavour emulates ring-0 guest code with KVM's instruction emulator, which implements
IRET only in real mode: in protected mode every IRET, the last instruction of every interrupt
or exception handler, ends in KVM_EXIT_INTERNAL_ERROR (emulation failure) with nothing done.
(Long-mode IRETQ works there; with VT-x or AMD-V none of this happens.) For exactly the IRET a
handler ends with, the VMM does what the CPU would and the guest runs on: in protected mode
(not virtual-8086, not long mode), at CPL 0, NT clear, returning to a present ring-0 code
segment of the GDT with EFLAGS.VM clear and EIP within its limit. Every other case stays the
emulation failure it was, reported as a guest fault. Each completion is counted in the run's
statistics (`completed_by_vmm`).
"""

from __future__ import annotations

import struct

from vmm import exits as ex
from vmm.backend import VcpuBackend
from vmm.cpu import (
    CR0_PE,
    EFER_LMA,
    EFLAGS_NT,
    EFLAGS_VM,
    Registers,
    Segment,
    SpecialRegisters,
    descriptor_cache,
    segment_value,
)
from vmm.errors import GuestMemoryError
from vmm.memory import GuestMemory
from vmm.paging import translate

IRET = 0xCF
OPERAND_SIZE = 0x66
# What an IRET at CPL 0 loads from the popped EFLAGS: CF PF AF ZF SF TF IF DF OF IOPL NT RF
# AC VIF VIP ID (not VM); bit 1 always reads as 1.
IRET_FLAGS = 0x3D7FD5
EFLAGS_FIXED = 0x2
ACCESSED = 1 << 8  # the type's accessed bit: loading a segment sets it


def complete(exit: ex.InternalError, vcpu: VcpuBackend, memory: GuestMemory) -> str | None:
    """Complete the instruction the emulator failed on, if it is one the VMM completes;
    returns its name ("iret"), or None (the failure stands)."""
    if exit.suberror != ex.EMULATION_FAILURE:
        return None
    regs, sregs = vcpu.get_regs(), vcpu.get_sregs()
    try:
        done = _iret(regs, sregs, memory)
    except GuestMemoryError:
        return None
    if done is None:
        return None
    new_regs, new_cs = done
    if new_cs != sregs.cs:
        vcpu.set_sregs(sregs.replace(cs=new_cs))
    vcpu.set_regs(new_regs)
    return "iret"


def _read(memory: GuestMemory, sregs: SpecialRegisters, linear: int, length: int) -> bytes:
    out = b""
    for i in range(length):  # byte by byte: a stack frame may cross a page
        phys = translate(memory, sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer,
                         (linear + i) & 0xFFFF_FFFF)
        out += memory.read(phys, 1)
    return out


def _iret(regs: Registers, sregs: SpecialRegisters,
          memory: GuestMemory) -> tuple[Registers, Segment] | None:
    cs, ss = sregs.cs, sregs.ss
    if (not sregs.cr0 & CR0_PE or sregs.efer & EFER_LMA or regs.rflags & (EFLAGS_VM | EFLAGS_NT)
            or cs.selector & 3 or cs.dpl or ss.dpl):
        return None
    code = _read(memory, sregs, cs.base + (regs.rip & 0xFFFF_FFFF), 2)
    wide = bool(cs.db)
    if code[0] == OPERAND_SIZE:
        wide, code = not wide, code[1:]
    if code[0] != IRET:
        return None
    size = 4 if wide else 2
    sp_mask = 0xFFFF_FFFF if ss.db else 0xFFFF
    sp = regs.rsp & sp_mask
    eip, selector, eflags = struct.unpack(
        "<III" if wide else "<HHH", _read(memory, sregs, ss.base + sp, 3 * size))
    if wide and eflags & EFLAGS_VM:
        return None  # a return to virtual-8086 mode
    new_cs = _ring0_code_segment(selector & 0xFFFF, sregs, memory)
    if new_cs is None or eip > new_cs.limit:
        return None
    mask = IRET_FLAGS if wide else IRET_FLAGS & 0xFFFF
    rflags = (regs.rflags & ~mask) | (eflags & mask) | EFLAGS_FIXED
    rsp = (regs.rsp & ~sp_mask) | ((sp + 3 * size) & sp_mask)
    return regs.replace(rip=eip, rsp=rsp, rflags=rflags), new_cs


def _ring0_code_segment(selector: int, sregs: SpecialRegisters,
                        memory: GuestMemory) -> Segment | None:
    """The CS that loading `selector` gives, if it is a present ring-0 code segment of the
    GDT (an IRET to the same privilege level); None for anything else."""
    index = selector & ~7
    if selector & 7 or not index or index + 7 > sregs.gdt.limit:
        return None
    low, high = struct.unpack("<II", _read(memory, sregs, sregs.gdt.base + index, 8))
    base, limit, flags = descriptor_cache(low, high)
    cs = segment_value(selector, base, limit, flags | ACCESSED)
    if not (cs.s and cs.type & 8 and cs.present) or cs.dpl or cs.l:
        return None  # not a present ring-0 code segment (or a 64-bit one)
    return cs

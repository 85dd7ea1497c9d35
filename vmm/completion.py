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
from vmm.cpu import CR0_PE, EFER_LMA, Registers, Segment, SpecialRegisters
from vmm.errors import GuestMemoryError
from vmm.memory import GuestMemory
from vmm.paging import translate

IRET = 0xCF
OPERAND_SIZE = 0x66
EFLAGS_NT = 1 << 14
EFLAGS_VM = 1 << 17
# What an IRET at CPL 0 loads from the popped EFLAGS: CF PF AF ZF SF TF IF DF OF IOPL NT RF
# AC VIF VIP ID (not VM); bit 1 always reads as 1.
IRET_FLAGS = 0x3D7FD5
EFLAGS_FIXED = 0x2


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
    kind = high >> 8 & 0xF
    s, dpl, present = high >> 12 & 1, high >> 13 & 3, high >> 15 & 1
    if not (s and kind & 8 and present) or dpl or high >> 21 & 1:
        return None  # not a present ring-0 code segment (or a 64-bit one)
    limit = (low & 0xFFFF) | (high & 0xF_0000)
    granular = high >> 23 & 1
    return Segment(
        base=(low >> 16) | (high & 0xFF) << 16 | (high & 0xFF00_0000),
        limit=(limit << 12 | 0xFFF) if granular else limit, selector=selector,
        type=kind | 1, present=1, dpl=0, db=high >> 22 & 1, s=1, l=0, g=granular,
        avl=high >> 20 & 1, unusable=0)

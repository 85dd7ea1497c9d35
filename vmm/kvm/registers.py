"""KVM's register structs (struct kvm_regs, kvm_sregs) to and from vmm.cpu's values, and the
lazy view of them the run loop and devices read at an exit.

Kept apart from vcpu.py so that the vCPU file is about KVM_RUN and stopping it; the struct
layouts here are the kernel's (see _abi.py).
"""

from __future__ import annotations

import struct

from vmm.backend import CpuState
from vmm.cpu import (
    CR0_PE,
    EFER_LMA,
    SEGMENT_NAMES,
    DescriptorTable,
    Segment,
    SpecialRegisters,
    mode_of,
)
from vmm.kvm._abi import ffi
from vmm.vocabulary import CpuMode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vmm.kvm.vcpu import Vcpu

_SEG_FIELDS = ("base", "limit", "selector", "type", "present", "dpl", "db", "s", "l", "g", "avl",
               "unusable")  # fmt: skip
_REGS = struct.Struct("<18Q")
# struct kvm_sregs as snapshot() reads it: six segments' selectors (kvm_segment: base u64,
# limit u32, selector u16, then 10 bytes), tr and ldt skipped, gdt and idt skipped, cr0 cr2
# cr3 cr4 (cr8 skipped), efer; then CS's base, L and D bits (from the first segment again).
_SEG_SELECTOR = "12xH10x"
_SNAPSHOT_SREGS = struct.Struct("<" + _SEG_SELECTOR * 6 + "48x" + "32x" + "4Q8xQ")
_CS_MODE = struct.Struct("<Q9xBxB")  # cs (the first segment): base, db (at 17), l (at 19)


def _segment(s) -> Segment:  # noqa: ANN001 - cffi struct kvm_segment
    return Segment(*(getattr(s, f) for f in _SEG_FIELDS))


def _set_segment(dst, seg: Segment) -> None:  # noqa: ANN001 - cffi struct kvm_segment
    for f in _SEG_FIELDS:
        setattr(dst, f, getattr(seg, f))


def sregs_to_py(c) -> SpecialRegisters:  # noqa: ANN001 - cffi struct kvm_sregs
    return SpecialRegisters(
        **{name: _segment(getattr(c, name)) for name in SEGMENT_NAMES},
        gdt=DescriptorTable(c.gdt.base, c.gdt.limit),
        idt=DescriptorTable(c.idt.base, c.idt.limit),
        cr0=c.cr0,
        cr2=c.cr2,
        cr3=c.cr3,
        cr4=c.cr4,
        cr8=c.cr8,
        efer=c.efer,
        apic_base=c.apic_base,
        interrupt_bitmap=tuple(c.interrupt_bitmap),
    )


def sregs_from_py(c, s: SpecialRegisters) -> None:  # noqa: ANN001 - cffi struct kvm_sregs
    for name in SEGMENT_NAMES:
        _set_segment(getattr(c, name), getattr(s, name))
    c.gdt.base, c.gdt.limit = s.gdt.base, s.gdt.limit
    c.idt.base, c.idt.limit = s.idt.base, s.idt.limit
    c.cr0, c.cr2, c.cr3, c.cr4, c.cr8 = s.cr0, s.cr2, s.cr3, s.cr4, s.cr8
    c.efer, c.apic_base = s.efer, s.apic_base
    for i, word in enumerate(s.interrupt_bitmap):
        c.interrupt_bitmap[i] = word


def snapshot(regs, sregs) -> tuple[int, ...]:  # noqa: ANN001 - cffi kvm_regs, kvm_sregs
    """Two unpacks of KVM's own structs (fields one by one cost ~15x more)."""
    raw = ffi.buffer(sregs)
    base, db, l = _CS_MODE.unpack_from(raw)  # noqa: E741 - the kernel's name
    return _REGS.unpack_from(ffi.buffer(regs)) + _SNAPSHOT_SREGS.unpack_from(raw) + (base, l, db)


class LiveCpuState(CpuState):
    """Read-mostly view of the vCPU at the current exit, fetched lazily (no per-exit copies).

    With KVM_CAP_SYNC_REGS the registers already sit in the kvm_run page; otherwise the first
    access after an exit costs one KVM_GET_REGS / KVM_GET_SREGS.
    """

    __slots__ = ("_cs", "_vcpu")

    def __init__(self, vcpu: Vcpu, cs) -> None:  # noqa: ANN001 - cffi kvm_segment in the sregs
        self._vcpu = vcpu
        self._cs = cs  # CS inside the vCPU's one kvm_sregs: refreshed with it, never rebuilt

    def reg(self, name: str) -> int:
        return getattr(self._vcpu.live_regs(), name)

    def set_reg(self, name: str, value: int) -> None:
        self._vcpu.set_live_reg(name, value)

    @property
    def mode(self) -> CpuMode:
        s = self._vcpu.live_sregs()
        cs = self._cs
        return mode_of(s.cr0, s.efer, cs.l, cs.db)

    @property
    def width(self) -> int:
        """Operand width of the mode right now: 16, 32 or 64 (hot: one call per hypercall)."""
        s = self._vcpu.live_sregs()
        if not s.cr0 & CR0_PE:
            return 16
        cs = self._cs
        if s.efer & EFER_LMA and cs.l:
            return 64
        return 32 if cs.db else 16

    def control_registers(self) -> tuple[int, int, int, int]:
        """(CR0, CR3, CR4, EFER): what a page walk needs."""
        s = self._vcpu.live_sregs()
        return s.cr0, s.cr3, s.cr4, s.efer

    def segment_base(self, name: str) -> int:
        return getattr(self._vcpu.live_sregs(), name).base

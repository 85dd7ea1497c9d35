"""vmm.cpu values to and from the engine's CPU state (QEMU's CPUX86State), and the view of
it devices read at an exit (EmuCpuState).

Control registers go through unicorn's register API, whose writes have QEMU's side effects
(TLB flush, long mode on and off); segment caches and QEMU's "hflags" (the CPU mode as the
translator sees it) are written into the state copy directly, computed as QEMU computes them
when a segment is loaded.
"""

from __future__ import annotations

import struct

from vmm.backend import CpuState
from vmm.cpu import (
    CR0_PE,
    CR0_PG,
    CR4_PAE,
    EFER_LMA,
    EFLAGS_VM,
    REGISTER_NAMES,
    SEGMENT_NAMES,
    DescriptorTable,
    Registers,
    Segment,
    SpecialRegisters,
    mode_of,
    segment_value,
)
from vmm.emu import engine as e
from vmm.vocabulary import CpuMode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vmm.emu.vcpu import EmuVcpu

# QEMU's descriptor flags (the high dword of a descriptor) and hflags bits
DESC_P = 1 << 15
DESC_L = 1 << 21
DESC_B = 1 << 22
HF_CPL = 3
HF_CS32 = 1 << 4
HF_SS32 = 1 << 5
HF_ADDSEG = 1 << 6
HF_PE = 1 << 7
HF_LMA = 1 << 14
HF_CS64 = 1 << 15
HF_IOBPT = 1 << 24  # the translator calls the I/O breakpoint check after every IN/OUT
HF_SEGMENT_BITS = HF_CPL | HF_CS32 | HF_SS32 | HF_ADDSEG | HF_PE | HF_LMA | HF_CS64
EFLAGS = 136

SEG_OFFSET = {name: e.SEGS + 24 * i for i, name in enumerate(e.SEGMENT_ORDER)}
SEG_OFFSET.update(tr=e.TR, ldt=e.LDT)


def segment_flags(seg: Segment) -> int:
    return ((seg.type & 15) << 8 | (seg.s & 1) << 12 | (seg.dpl & 3) << 13
            | (seg.present & 1) << 15 | (seg.avl & 1) << 20 | (seg.l & 1) << 21
            | (seg.db & 1) << 22 | (seg.g & 1) << 23)


def compute_hflags(hflags: int, cr0: int, efer: int, eflags: int, cs_flags: int,
                   ss_flags: int, data_bases: int) -> int:
    """QEMU's mode bits of hflags for these segments (as cpu_x86_load_seg_cache sets them);
    `data_bases` is DS.base | ES.base | SS.base. The I/O breakpoint bit is always set."""
    h = hflags & ~HF_SEGMENT_BITS | HF_IOBPT | (ss_flags >> 13 & 3)
    if cr0 & CR0_PE:
        h |= HF_PE
    if efer & EFER_LMA:
        h |= HF_LMA
        if cs_flags & DESC_L:
            h |= HF_CS64 | HF_CS32
    if not h & HF_CS64 and cs_flags & DESC_B:
        h |= HF_CS32
    if ss_flags & DESC_B:
        h |= HF_SS32
    if not h & HF_CS64 and (not cr0 & CR0_PE or eflags & EFLAGS_VM or not h & HF_CS32
                            or data_bases):
        h |= HF_ADDSEG
    return h


def refresh_hflags(engine: e.Engine) -> None:
    """Recompute the mode bits of hflags from the (patched) state copy."""
    cs, ss = engine.segment(SEG_OFFSET["cs"]), engine.segment(SEG_OFFSET["ss"])
    bases = engine.segment(SEG_OFFSET["ds"])[1] | engine.segment(SEG_OFFSET["es"])[1] | ss[1]
    engine.put_u32(e.HFLAGS, compute_hflags(
        engine.u32(e.HFLAGS), engine.u64(e.CR), engine.u64(e.EFER), engine.u64(EFLAGS),
        cs[3], ss[3], bases))


_GPRS_AND_EIP = struct.Struct("<17Q")  # at e.REGS: x86 encoding order, then EIP
_GPR_ORDER = tuple(e.GPR_ORDER.index(n) for n in REGISTER_NAMES[:16])
_SELECTORS = struct.Struct("<" + "I20x" * 6)  # at e.SEGS: es cs ss ds fs gs
_SELECTOR_ORDER = tuple(e.SEGMENT_ORDER.index(n) for n in ("cs", "ds", "es", "fs", "gs", "ss"))
_CRS = struct.Struct("<5Q")  # at e.CR: cr0 .. cr4


def snapshot(engine: e.Engine) -> tuple[int, ...]:
    """vmm.cpu.SNAPSHOT_NAMES' values from the state copy (fresh after every stop)."""
    state = engine.state
    gprs = _GPRS_AND_EIP.unpack_from(state, e.REGS)
    selectors = _SELECTORS.unpack_from(state, e.SEGS)
    cr0, _, cr2, cr3, cr4 = _CRS.unpack_from(state, e.CR)
    _, base, _, flags = engine.segment(SEG_OFFSET["cs"])
    return (*(gprs[i] for i in _GPR_ORDER), gprs[16], engine.reg(e.REG_RFLAGS),
            *(selectors[i] & 0xFFFF for i in _SELECTOR_ORDER), cr0, cr2, cr3, cr4,
            engine.u64(e.EFER), base, flags >> 21 & 1, flags >> 22 & 1)


def read_registers(engine: e.Engine) -> Registers:
    """From a fresh save(); RFLAGS through the API (QEMU keeps the arithmetic flags apart)."""
    values = {name: engine.u64(off) for name, off in e.GPR_OFFSET.items()}
    return Registers(**values, rip=engine.u64(e.EIP), rflags=engine.reg(e.REG_RFLAGS))


def write_registers(engine: e.Engine, regs: Registers) -> None:
    engine.save()
    for name in REGISTER_NAMES[:16]:
        engine.put_u64(e.GPR_OFFSET[name], getattr(regs, name))
    engine.put_u64(e.EIP, regs.rip)
    engine.restore()
    engine.set_reg(e.REG_RFLAGS, regs.rflags)


def read_special(engine: e.Engine, extra: SpecialRegisters) -> SpecialRegisters:
    """From a fresh save(); CR8, APIC base and the interrupt bitmap are not emulated and come
    back as they were set (`extra`)."""
    segs = {name: segment_value(*engine.segment(off)) for name, off in SEG_OFFSET.items()}
    gdt, idt = engine.segment(e.GDT), engine.segment(e.IDT)
    return SpecialRegisters(
        **segs, gdt=DescriptorTable(gdt[1], gdt[2]), idt=DescriptorTable(idt[1], idt[2]),
        cr0=engine.u64(e.CR), cr2=engine.u64(e.CR + 16), cr3=engine.u64(e.CR + 24),
        cr4=engine.u64(e.CR + 32), cr8=extra.cr8, efer=engine.u64(e.EFER),
        apic_base=extra.apic_base, interrupt_bitmap=extra.interrupt_bitmap)


def write_special(engine: e.Engine, sregs: SpecialRegisters) -> None:
    # Leave long mode whatever the state (QEMU clears LMA only when CR0.PG goes 1 -> 0), then
    # set EFER, CR3, CR4 and CR0 in the order a boot loader would.
    engine.set_reg(e.REG_CR4, CR4_PAE)
    engine.set_reg(e.REG_CR0, CR0_PE | CR0_PG | 0x10)
    engine.set_reg(e.REG_CR0, CR0_PE | 0x10)
    engine.set_msr(e.MSR_EFER, sregs.efer & ~EFER_LMA)
    engine.set_reg(e.REG_CR3, sregs.cr3)
    engine.set_reg(e.REG_CR4, sregs.cr4)
    engine.set_reg(e.REG_CR0, sregs.cr0)
    engine.set_reg(e.REG_CR2, sregs.cr2)
    engine.set_table(e.REG_GDTR, sregs.gdt.base, sregs.gdt.limit)
    engine.set_table(e.REG_IDTR, sregs.idt.base, sregs.idt.limit)
    engine.save()
    for name in SEGMENT_NAMES:
        seg: Segment = getattr(sregs, name)
        engine.put_segment(SEG_OFFSET[name], seg.selector, seg.base, seg.limit,
                           segment_flags(seg))
    refresh_hflags(engine)
    engine.restore()


def current_mode(engine: e.Engine) -> CpuMode:
    """The mode from a fresh save(), read from hflags as the translator uses them."""
    h = engine.u32(e.HFLAGS)
    return mode_of(CR0_PE if h & HF_PE else 0, EFER_LMA if h & HF_LMA else 0, h >> 15 & 1,
                   h >> 4 & 1)


class EmuCpuState(CpuState):
    """The registers at the current exit, from the state copy saved when the engine stopped."""

    __slots__ = ("_vcpu", "_engine")

    def __init__(self, vcpu: EmuVcpu) -> None:  # set_reg goes through the vCPU
        self._vcpu = vcpu
        self._engine = vcpu.engine

    def reg(self, name: str) -> int:
        offset = e.GPR_OFFSET.get(name)
        if offset is not None:
            return self._engine.u64(offset)
        if name == "rip":
            return self._engine.u64(e.EIP)
        if name == "rflags":
            return self._engine.reg(e.REG_RFLAGS)
        raise AttributeError(name)

    def set_reg(self, name: str, value: int) -> None:
        self._vcpu.set_live_reg(name, value)

    @property
    def mode(self) -> CpuMode:
        return current_mode(self._engine)

    @property
    def width(self) -> int:
        h = self._engine.u32(e.HFLAGS)
        if not h & HF_PE:
            return 16
        return 64 if h & HF_CS64 else 32 if h & HF_CS32 else 16

    def control_registers(self) -> tuple[int, int, int, int]:
        eng = self._engine
        return eng.u64(e.CR), eng.u64(e.CR + 24), eng.u64(e.CR + 32), eng.u64(e.EFER)

    def segment_base(self, name: str) -> int:
        return self._engine.segment(SEG_OFFSET[name])[1]

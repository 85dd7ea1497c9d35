"""vCPU state as plain Python values, the same for every backend (no cffi, no emulator objects)."""

from __future__ import annotations

from vmm.values import Record
from vmm.vocabulary import CpuMode

REGISTER_NAMES: tuple[str, ...] = (
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
    "rip", "rflags",
)  # fmt: skip
SEGMENT_NAMES: tuple[str, ...] = ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")

# What VcpuBackend.snapshot() returns, in this order: the registers an instruction can change
# (general, RIP, RFLAGS, segment selectors, control registers, EFER), then what decides the
# mode and the linear address of RIP (CS's base, L and D bits), which a tracer does not show.
SNAPSHOT_NAMES: tuple[str, ...] = (*REGISTER_NAMES, "cs", "ds", "es", "fs", "gs", "ss",
                                   "cr0", "cr2", "cr3", "cr4", "efer", "cs_base", "cs_l",
                                   "cs_db")  # fmt: skip
SNAPSHOT_SHOWN = len(SNAPSHOT_NAMES) - 3

CR0_PE = 1 << 0
CR0_ET = 1 << 4
CR0_NE = 1 << 5
CR0_PG = 1 << 31
CR4_PSE = 1 << 4
CR4_PAE = 1 << 5
EFER_LME = 1 << 8
EFER_LMA = 1 << 10
# RFLAGS bits
EFLAGS_TF = 1 << 8
EFLAGS_IF = 1 << 9
EFLAGS_NT = 1 << 14
EFLAGS_RF = 1 << 16
EFLAGS_VM = 1 << 17
EFLAGS_AC = 1 << 18


class Registers(Record):
    """General-purpose registers, RIP and RFLAGS (struct kvm_regs)."""

    __slots__ = REGISTER_NAMES

    def __init__(
        self, rax: int = 0, rbx: int = 0, rcx: int = 0, rdx: int = 0, rsi: int = 0,
        rdi: int = 0, rsp: int = 0, rbp: int = 0, r8: int = 0, r9: int = 0, r10: int = 0,
        r11: int = 0, r12: int = 0, r13: int = 0, r14: int = 0, r15: int = 0, rip: int = 0,
        rflags: int = 0x2,
    ) -> None:  # fmt: skip
        self.rax, self.rbx, self.rcx, self.rdx = rax, rbx, rcx, rdx
        self.rsi, self.rdi, self.rsp, self.rbp = rsi, rdi, rsp, rbp
        self.r8, self.r9, self.r10, self.r11 = r8, r9, r10, r11
        self.r12, self.r13, self.r14, self.r15 = r12, r13, r14, r15
        self.rip, self.rflags = rip, rflags


class Segment(Record):
    """A segment register with its hidden descriptor cache (struct kvm_segment)."""

    __slots__ = ("base", "limit", "selector", "type", "present", "dpl", "db", "s", "l", "g",
                 "avl", "unusable")

    def __init__(
        self, base: int = 0, limit: int = 0xFFFF, selector: int = 0, type: int = 3,  # noqa: A002
        present: int = 1, dpl: int = 0, db: int = 0, s: int = 1, l: int = 0,  # noqa: E741
        g: int = 0, avl: int = 0, unusable: int = 0,
    ) -> None:  # fmt: skip - the kernel's field names
        self.base, self.limit, self.selector, self.type = base, limit, selector, type
        self.present, self.dpl, self.db, self.s = present, dpl, db, s
        self.l, self.g, self.avl, self.unusable = l, g, avl, unusable


class DescriptorTable(Record):
    """GDTR/IDTR: base and limit."""

    __slots__ = ("base", "limit")

    def __init__(self, base: int = 0, limit: int = 0) -> None:
        self.base = base
        self.limit = limit


class SpecialRegisters(Record):
    """Segments, descriptor tables and control registers (struct kvm_sregs)."""

    __slots__ = (*SEGMENT_NAMES, "gdt", "idt", "cr0", "cr2", "cr3", "cr4", "cr8", "efer",
                 "apic_base", "interrupt_bitmap")

    def __init__(
        self, cs: Segment | None = None, ds: Segment | None = None, es: Segment | None = None,
        fs: Segment | None = None, gs: Segment | None = None, ss: Segment | None = None,
        tr: Segment | None = None, ldt: Segment | None = None,
        gdt: DescriptorTable | None = None, idt: DescriptorTable | None = None,
        cr0: int = 0, cr2: int = 0, cr3: int = 0, cr4: int = 0, cr8: int = 0, efer: int = 0,
        apic_base: int = 0, interrupt_bitmap: tuple[int, int, int, int] = (0, 0, 0, 0),
    ) -> None:  # fmt: skip
        self.cs, self.ds, self.es = cs or Segment(), ds or Segment(), es or Segment()
        self.fs, self.gs, self.ss = fs or Segment(), gs or Segment(), ss or Segment()
        self.tr, self.ldt = tr or Segment(), ldt or Segment()
        self.gdt, self.idt = gdt or DescriptorTable(), idt or DescriptorTable()
        self.cr0, self.cr2, self.cr3, self.cr4, self.cr8 = cr0, cr2, cr3, cr4, cr8
        self.efer, self.apic_base, self.interrupt_bitmap = efer, apic_base, interrupt_bitmap


def snapshot_of(regs: Registers, sregs: SpecialRegisters) -> tuple[int, ...]:
    """SNAPSHOT_NAMES' values from full register sets (what a backend may do faster)."""
    cs = sregs.cs
    return (*(getattr(regs, n) for n in REGISTER_NAMES),
            *(getattr(sregs, n).selector for n in ("cs", "ds", "es", "fs", "gs", "ss")),
            sregs.cr0, sregs.cr2, sregs.cr3, sregs.cr4, sregs.efer, cs.base, cs.l, cs.db)


def descriptor_cache(low: int, high: int) -> tuple[int, int, int]:
    """(base, limit, flags) that loading a GDT/LDT descriptor puts in a segment cache; the
    flags are the descriptor's high dword, bits 8-23 (type, S, DPL, P, AVL, L, D/B, G)."""
    base = (low >> 16) | (high & 0xFF) << 16 | (high & 0xFF00_0000)
    limit = (low & 0xFFFF) | (high & 0xF_0000)
    if high & 1 << 23:
        limit = limit << 12 | 0xFFF
    return base, limit, high & 0x00FF_FF00


def segment_value(selector: int, base: int, limit: int, flags: int) -> Segment:
    """A Segment from a segment cache (flags as descriptor_cache gives them)."""
    present = flags >> 15 & 1
    return Segment(base=base, limit=limit, selector=selector & 0xFFFF, type=flags >> 8 & 15,
                   present=present, dpl=flags >> 13 & 3, db=flags >> 22 & 1, s=flags >> 12 & 1,
                   l=flags >> 21 & 1, g=flags >> 23 & 1, avl=flags >> 20 & 1,
                   unusable=1 - present)


def mode_of(cr0: int, efer: int, cs_l: int, cs_db: int) -> CpuMode:
    """The execution mode from the four bits that decide it (shared by the fast path)."""
    if not cr0 & CR0_PE:
        return CpuMode.REAL
    if efer & EFER_LMA:
        return CpuMode.LONG if cs_l else CpuMode.COMPAT
    return CpuMode.PROTECTED if cs_db else CpuMode.PROTECTED16


def cpu_mode(sregs: SpecialRegisters) -> CpuMode:
    """The mode the CPU is in with these special registers."""
    return mode_of(sregs.cr0, sregs.efer, sregs.cs.l, sregs.cs.db)


def format_register_dump(regs: Registers, sregs: SpecialRegisters) -> str:
    """A fault report's register block: enough to find where and in which mode a guest died."""
    lines = [f"mode {cpu_mode(sregs)}  rip {regs.rip:#018x}  rflags {regs.rflags:#010x}"]
    names = REGISTER_NAMES[:16]
    for i in range(0, 16, 4):
        lines.append("  ".join(f"{n:>3} {getattr(regs, n):016x}" for n in names[i : i + 4]))
    for name in SEGMENT_NAMES:
        seg: Segment = getattr(sregs, name)
        flags = f"type {seg.type:x} p{seg.present} dpl{seg.dpl} db{seg.db} l{seg.l} g{seg.g}"
        lines.append(
            f"{name:>3} sel {seg.selector:04x} base {seg.base:016x} limit {seg.limit:08x}  {flags}"
        )
    lines.append(
        f"gdt base {sregs.gdt.base:016x} limit {sregs.gdt.limit:04x}  "
        f"idt base {sregs.idt.base:016x} limit {sregs.idt.limit:04x}"
    )
    lines.append(
        f"cr0 {sregs.cr0:08x}  cr2 {sregs.cr2:016x}  cr3 {sregs.cr3:016x}  "
        f"cr4 {sregs.cr4:08x}  efer {sregs.efer:08x}"
    )
    return "\n".join(lines)

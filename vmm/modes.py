"""Boot modes: the CPU state and memory tables a guest finds at its first instruction.

Like a boot loader, `boot_state` writes the GDT and page tables into guest RAM. They live in a
"system area" at the top of RAM (SystemLayout), far from images loaded at 0x1000; the protected
and long mode stacks grow down from just below it. Real mode writes nothing into RAM.
"""

from __future__ import annotations

from vmm.cpu import (
    CR0_ET,
    CR0_PE,
    CR0_PG,
    CR4_PAE,
    CR4_PSE,
    EFER_LMA,
    EFER_LME,
    DescriptorTable,
    Registers,
    Segment,
    SpecialRegisters,
)
from vmm.errors import ImageError
from vmm.memory import GuestMemory
from vmm.values import Value
from vmm.vocabulary import BootMode

REAL_MODE_STACK = 0xFFFE
REAL_MODE_STACKS = 0x10000  # real mode: the 64 KiB below REAL_MODE_STACK, split among the vCPUs
VCPU_STACK_SIZE = 0x10000  # protected/long mode: each vCPU's stack 64 KiB below the previous one
APIC_BASE_DEFAULT = 0xFEE0_0900  # the reset value: xAPIC enabled, bootstrap processor
RFLAGS_DEFAULT = 0x2

CODE_SELECTOR = 0x08
DATA_SELECTOR = 0x10

# GDT descriptors (8 bytes each): flat base 0, limit 0xfffff with 4 KiB granularity.
GDT_NULL = 0x0000_0000_0000_0000
GDT_CODE32 = 0x00CF_9A00_0000_FFFF  # present, ring 0, execute/read, 32-bit (D=1), G=1
GDT_CODE64 = 0x00AF_9A00_0000_FFFF  # present, ring 0, execute/read, 64-bit (L=1, D=0), G=1
GDT_DATA = 0x00CF_9200_0000_FFFF  # present, ring 0, read/write, 32-bit (B=1), G=1

PAGE = 0x1000
PTE_P, PTE_RW, PTE_PS = 0x1, 0x2, 0x80
GIB = 1 << 30
# Page tables always map at least the first 4 GiB, so a pointer past RAM ends as an MMIO exit
# (a clear fault) instead of a page fault (a triple fault).
MIN_MAPPED = 4 * GIB


# The default IDT (protected and long mode, until the guest loads its own): one interrupt gate
# per exception vector 0-31 to a stub that reports the vector to the VMM with one `out` to
# EXCEPTION_PORT (which vector: from where the stub is). The stub changes no register; the
# VMM reads the frame the CPU pushed and ends the run naming the exception.
EXCEPTION_VECTORS = 32
EXCEPTION_PORT = 0xE5
EXCEPTION_STUB = bytes((0xE6, EXCEPTION_PORT, 0xF4, 0xF4))  # out %al, $0xe5; hlt; hlt
INTERRUPT_GATE = 0x8E  # present, DPL 0, 32-bit (in long mode: 64-bit) interrupt gate


class SystemLayout(Value):
    """Where boot_state puts its tables: fixed offsets from `base` = mem_size - size.

    base + 0x0000  GDT (3 descriptors: null, code 0x08, data 0x10)
    base + 0x0100  protected/long: the default IDT (32 gates: 8 bytes each, 16 in long mode)
    base + 0x0400  the default IDT's stubs, 4 bytes a vector; rest of the page unused
    base + 0x1000  PAGED32 page directory: 1024 4 MiB PSE entries identity-mapping 0..4 GiB
    base + 0x2000  LONG PML4 (entry 0 -> PDPT)
    base + 0x3000  LONG PDPT (entry i -> PD i)
    base + 0x4000  LONG PDs, one 4 KiB page per GiB: 2 MiB pages identity-mapping
                   0..max(RAM, 4 GiB)
    The protected/long mode stack pointer starts at `base` and grows down (vCPU 0's; see
    `stack_pointer` for the others).
    """

    __slots__ = ("mem_size", "base", "pd_count")

    def __init__(self, mem_size: int, base: int, pd_count: int) -> None:
        self.mem_size = mem_size
        self.base = base
        self.pd_count = pd_count

    @classmethod
    def for_memory(cls, mem_size: int) -> SystemLayout:
        pd_count = max(MIN_MAPPED, mem_size + GIB - 1) // GIB
        size = 0x4000 + pd_count * PAGE
        return cls(mem_size, mem_size - size, pd_count)

    @property
    def size(self) -> int:
        return self.mem_size - self.base

    @property
    def gdt(self) -> int:
        return self.base

    @property
    def gdt_limit(self) -> int:
        return 3 * 8 - 1

    @property
    def idt(self) -> int:
        return self.base + 0x100

    @property
    def exception_stubs(self) -> int:
        return self.base + 0x400

    def in_exception_stubs(self, address: int) -> bool:
        """Whether `address` is in the default IDT's stubs: the VMM's code, not the guest's."""
        return 0 <= address - self.exception_stubs < EXCEPTION_VECTORS * len(EXCEPTION_STUB)

    def stub_vector(self, rip: int) -> int | None:
        """The vector whose stub's `out` leaves RIP at `rip`, or None."""
        offset = rip - 2 - self.exception_stubs
        if 0 <= offset < EXCEPTION_VECTORS * len(EXCEPTION_STUB) and not offset % 4:
            return offset // len(EXCEPTION_STUB)
        return None

    @property
    def page_directory32(self) -> int:
        return self.base + 0x1000

    @property
    def pml4(self) -> int:
        return self.base + 0x2000

    @property
    def pdpt(self) -> int:
        return self.base + 0x3000

    @property
    def pd(self) -> int:
        return self.base + 0x4000

    @property
    def stack_top(self) -> int:
        return self.base


def _real_segment(code: bool = False) -> Segment:
    return Segment(base=0, limit=0xFFFF, selector=0, type=0xB if code else 0x3, present=1, s=1)


def _flat(selector: int, code: bool, long: bool = False) -> Segment:
    return Segment(
        base=0,
        limit=0xFFFF_FFFF,
        selector=selector,
        type=0xB if code else 0x3,
        present=1,
        dpl=0,
        db=0 if long else 1,
        s=1,
        l=1 if long else 0,
        g=1,
    )


def _system_segments() -> dict[str, Segment]:
    # The reset values of TR and LDTR: VM entry checks want a usable busy TSS in TR.
    return {
        "tr": Segment(base=0, limit=0xFFFF, selector=0, type=0xB, present=1, s=0),
        "ldt": Segment(base=0, limit=0xFFFF, selector=0, type=0x2, present=1, s=0),
    }


def _write_gdt(memory: GuestMemory, layout: SystemLayout, code: int) -> None:
    table = b"".join(d.to_bytes(8, "little") for d in (GDT_NULL, code, GDT_DATA))
    memory.write(layout.gdt, table)


def _write_default_idt(memory: GuestMemory, layout: SystemLayout, long: bool) -> DescriptorTable:
    """The gates and stubs of the default IDT; the IDTR that points to them."""
    memory.write(layout.exception_stubs, EXCEPTION_STUB * EXCEPTION_VECTORS)
    gates = bytearray()
    for vector in range(EXCEPTION_VECTORS):
        stub = layout.exception_stubs + vector * len(EXCEPTION_STUB)
        gates += ((stub & 0xFFFF) | CODE_SELECTOR << 16).to_bytes(4, "little")
        gates += ((stub & 0xFFFF_0000) | INTERRUPT_GATE << 8).to_bytes(4, "little")
        if long:
            gates += (stub >> 32).to_bytes(4, "little") + bytes(4)
    memory.write(layout.idt, bytes(gates))
    return DescriptorTable(layout.idt, len(gates) - 1)


def _write_page_directory32(memory: GuestMemory, layout: SystemLayout) -> None:
    entries = ((i << 22) | PTE_PS | PTE_RW | PTE_P for i in range(1024))
    memory.write(layout.page_directory32, b"".join(e.to_bytes(4, "little") for e in entries))


def _write_long_page_tables(memory: GuestMemory, layout: SystemLayout) -> None:
    memory.fill(layout.pml4, 2 * PAGE)
    memory.write_u64(layout.pml4, layout.pdpt | PTE_RW | PTE_P)
    pdpt = b"".join(
        (layout.pd + i * PAGE | PTE_RW | PTE_P).to_bytes(8, "little")
        for i in range(layout.pd_count)
    )
    memory.write(layout.pdpt, pdpt)
    pds = b"".join(
        ((i << 21) | PTE_PS | PTE_RW | PTE_P).to_bytes(8, "little")
        for i in range(layout.pd_count * 512)
    )
    memory.write(layout.pd, pds)


def boot_state(
    mode: BootMode, memory: GuestMemory, entry: int
) -> tuple[Registers, SpecialRegisters]:
    """The registers for `mode` starting at `entry`; writes the mode's tables into `memory`."""
    return _BOOT_STATES[mode](memory, entry)


def stack_pointer(mode: BootMode, first: int, cpu: int, cpus: int) -> int:
    """The initial SP/ESP/RSP of vCPU `cpu` of `cpus`, whose vCPU 0 starts at `first`: the same
    for every vCPU but its own stack, below the ones before it."""
    if mode is BootMode.REAL:  # SP is 16 bits and SS is 0: share the 64 KiB below 0xfffe
        return first - cpu * (REAL_MODE_STACKS // cpus & ~0xF)
    return first - cpu * VCPU_STACK_SIZE


def _real_mode(memory: GuestMemory, entry: int) -> tuple[Registers, SpecialRegisters]:
    """CS=0, every segment at 0, SP=0xfffe, the real-mode IVT at 0; nothing written to RAM."""
    if not 0 <= entry <= 0xFFFF:
        raise ImageError(f"entry {entry:#x}: real mode starts at CS=0, so entry must be < 64 KiB")
    regs = Registers(rip=entry, rsp=REAL_MODE_STACK, rflags=RFLAGS_DEFAULT)
    segs = {n: _real_segment() for n in ("ds", "es", "fs", "gs", "ss")}
    sregs = SpecialRegisters(
        cs=_real_segment(code=True), **segs, **_system_segments(),
        gdt=DescriptorTable(0, 0xFFFF), idt=DescriptorTable(0, 0x3FF),
        cr0=CR0_ET, apic_base=APIC_BASE_DEFAULT,
    )  # fmt: skip
    return regs, sregs


def _protected_mode(memory: GuestMemory, entry: int) -> tuple[Registers, SpecialRegisters]:
    """Flat 4 GiB code and data segments from the VMM's GDT, no paging."""
    layout = _flat_layout(memory, entry, top=min(memory.size, MIN_MAPPED))
    _write_gdt(memory, layout, GDT_CODE32)
    return _flat_state(layout, entry, CR0_PE | CR0_ET, idt=_write_default_idt(memory, layout,
                                                                               False))


def _paged32_mode(memory: GuestMemory, entry: int) -> tuple[Registers, SpecialRegisters]:
    """Protected mode with paging on: 4 MiB pages identity-mapping the first 4 GiB."""
    layout = _flat_layout(memory, entry, top=min(memory.size, MIN_MAPPED))
    _write_gdt(memory, layout, GDT_CODE32)
    _write_page_directory32(memory, layout)
    return _flat_state(layout, entry, CR0_PE | CR0_ET | CR0_PG, cr3=layout.page_directory32,
                       cr4=CR4_PSE, idt=_write_default_idt(memory, layout, False))


def _long_mode(memory: GuestMemory, entry: int) -> tuple[Registers, SpecialRegisters]:
    """64-bit code segment, 2 MiB pages identity-mapping max(RAM, 4 GiB)."""
    layout = _flat_layout(memory, entry, top=memory.size)
    _write_gdt(memory, layout, GDT_CODE64)
    _write_long_page_tables(memory, layout)
    return _flat_state(layout, entry, CR0_PE | CR0_ET | CR0_PG, cr3=layout.pml4, cr4=CR4_PAE,
                       efer=EFER_LME | EFER_LMA, long=True,
                       idt=_write_default_idt(memory, layout, True))


def _flat_layout(memory: GuestMemory, entry: int, top: int) -> SystemLayout:
    if not 0 <= entry < top:
        raise ImageError(f"entry {entry:#x} is outside guest RAM (0..{top - 1:#x})")
    layout = SystemLayout.for_memory(memory.size)
    if layout.base < 0x2000:
        raise ImageError(f"{memory.size:#x} bytes of RAM leave no room below the system area")
    return layout


def _flat_state(
    layout: SystemLayout, entry: int, cr0: int, cr3: int = 0, cr4: int = 0, efer: int = 0,
    long: bool = False, idt: DescriptorTable | None = None,
) -> tuple[Registers, SpecialRegisters]:  # fmt: skip
    data = _flat(DATA_SELECTOR, code=False)
    sregs = SpecialRegisters(
        cs=_flat(CODE_SELECTOR, code=True, long=long), ds=data, es=data, fs=data, gs=data,
        ss=data, **_system_segments(),
        gdt=DescriptorTable(layout.gdt, layout.gdt_limit), idt=idt or DescriptorTable(0, 0),
        cr0=cr0, cr3=cr3, cr4=cr4, efer=efer, apic_base=APIC_BASE_DEFAULT,
    )  # fmt: skip
    return Registers(rip=entry, rsp=layout.stack_top, rflags=RFLAGS_DEFAULT), sregs


_BOOT_STATES = {
    BootMode.REAL: _real_mode,
    BootMode.PROTECTED: _protected_mode,
    BootMode.PAGED32: _paged32_mode,
    BootMode.LONG: _long_mode,
}

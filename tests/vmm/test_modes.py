"""Boot modes: what a guest finds at its first instruction, and mode switches by the guest."""

from __future__ import annotations

import io

import pytest
from gnu_guests import HC

from vmm import BootMode, KvmApiError, Machine, RunEnd, SystemLayout, run_flat
from vmm.memory import GuestMemory
from vmm.modes import CODE_SELECTOR, DATA_SELECTOR, GDT_CODE32, GDT_CODE64, GDT_DATA, boot_state
from vmm.paging import translate

PRINT32 = HC + """
.code32
    mov ebx, 4000000000
    hc 2
    hc 3
    mov ebx, esp
    hc 2
    hc 3
    mov ebx, 5
    hc 0
"""


def test_real_mode_prints_16_bit(backend: str, asm) -> None:
    out = io.BytesIO()
    src = HC + ".code16\n mov bx, 65535\n hc 2\n hc 3\n mov bx, sp\n hc 2\n hlt\n"
    r = run_flat(asm(src), mode=BootMode.REAL, output=out)
    assert out.getvalue() == b"65535\n65534"
    assert r.end is RunEnd.HLT


def test_protected_mode_prints_32_bit(backend: str, asm) -> None:
    out = io.BytesIO()
    r = run_flat(asm(PRINT32), mode=BootMode.PROTECTED, mem_size=2 << 20, output=out)
    top = SystemLayout.for_memory(2 << 20).stack_top
    assert out.getvalue() == f"4000000000\n{top}\n".encode()
    assert (r.end, r.status) == (RunEnd.HC_EXIT, 5)


def test_paged32_mode_prints_32_bit_or_reports_host_limit(backend: str, asm) -> None:
    """kvm-pvm (the KVM on the test machines) refuses CR0.PG outside long mode: then the VMM
    must say so clearly instead of letting the guest triple-fault."""
    out = io.BytesIO()
    try:
        r = run_flat(asm(PRINT32), mode=BootMode.PAGED32, output=out)
    except KvmApiError as e:
        assert "paging" in str(e) and "\n" not in str(e)
        return
    assert out.getvalue().startswith(b"4000000000\n")
    assert r.end is RunEnd.HC_EXIT


def test_long_mode_prints_64_bit(backend: str, asm) -> None:
    out = io.BytesIO()
    src = HC + """
.code64
    movabs rbx, 0x10000000005
    hc 2
    hc 3
    mov rbx, rsp
    hc 2
    hlt
"""
    r = run_flat(asm(src), mode=BootMode.LONG, output=out)
    top = SystemLayout.for_memory(2 << 20).stack_top
    assert out.getvalue() == f"{(1 << 40) + 5}\n{top}".encode()
    assert r.end is RunEnd.HLT


def test_guest_switches_real_to_protected_to_long(backend: str, asm) -> None:
    """Needs KVM_SET_CPUID2; the PUTNUM width follows the mode at each call."""
    src = HC + """
.code16
    cli
    lgdt [gdtr]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    ljmp 0x08, offset pm
.code32
pm: mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    mov ebx, 3000000000
    hc 2
    hc 3
    mov edi, 0x10000
    xor eax, eax
    mov ecx, 3 * 1024
    rep stosd
    mov dword ptr [0x10000], 0x11003
    mov dword ptr [0x11000], 0x12003
    mov edi, 0x12000
    mov eax, 0x83
    mov ecx, 512
1:  mov [edi], eax
    add eax, 0x200000
    add edi, 8
    loop 1b
    mov eax, 0x10000
    mov cr3, eax
    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x100
    wrmsr
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    ljmp 0x18, offset lm
.code64
lm: movabs rbx, 0x123456789ab
    hc 2
    hc 3
    mov ebx, 7
    hc 0
.p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
gdtr:
    .word gdtr - gdt - 1
    .long gdt
"""
    out = io.BytesIO()
    r = run_flat(asm(src), mode=BootMode.REAL, output=out, timeout=20)
    assert out.getvalue() == b"3000000000\n1250999896491\n", r.report()
    assert (r.end, r.status) == (RunEnd.HC_EXIT, 7)


@pytest.mark.parametrize("mode", [BootMode.PROTECTED, BootMode.LONG])
def test_four_gib_guest_writes_high_memory(backend: str, asm, mode: BootMode) -> None:
    code, a = (".code32\n", "esi") if mode is BootMode.PROTECTED else (".code64\n", "rsi")
    src = HC + code + f"""
    mov esi, 0x200000
    mov dword ptr [{a}], 0x11223344
    mov esi, 0xc0000000
    mov dword ptr [{a}], 0x55667788
    mov esi, 0xfff00000
    mov dword ptr [{a}], 0x99aabbcc
    mov ebx, [{a}]
    hc 2
    hlt
"""
    out = io.BytesIO()
    with Machine(mem_size=4 << 30, output=out) as m:
        m.load_flat(asm(src))
        r = m.run(0x1000, mode, timeout=10)
        assert r.end is RunEnd.HLT, r.report()
        assert m.memory.read_u32(0x200000) == 0x11223344
        assert m.memory.read_u32(0xC0000000) == 0x55667788
        assert m.memory.read_u32(0xFFF00000) == 0x99AABBCC
    assert out.getvalue() == str(0x99AABBCC).encode()


def test_boot_state_tables() -> None:
    """The documented system area: GDT and page tables at fixed offsets from the top of RAM."""
    with GuestMemory(2 << 20) as mem:
        layout = SystemLayout.for_memory(mem.size)
        assert layout.base == (2 << 20) - 0x8000 and layout.stack_top == layout.base
        regs, sregs = boot_state(BootMode.PROTECTED, mem, 0x1000)
        gdt = [mem.read_u64(layout.gdt + 8 * i) for i in range(3)]
        assert gdt == [0, GDT_CODE32, GDT_DATA]
        assert (sregs.gdt.base, sregs.gdt.limit) == (layout.gdt, 23)
        assert sregs.cs.selector == CODE_SELECTOR and sregs.ss.selector == DATA_SELECTOR
        assert (sregs.cr0, sregs.cr4, sregs.efer) == (0x11, 0, 0)
        assert (regs.rip, regs.rsp, regs.rflags) == (0x1000, layout.stack_top, 2)

        regs, sregs = boot_state(BootMode.PAGED32, mem, 0x1000)
        assert (sregs.cr0, sregs.cr3, sregs.cr4) == (0x80000011, layout.page_directory32, 0x10)
        for linear in (0, 0x1234, 0x1F_FFFF, 0xFEDC_BA98):
            assert translate(mem, sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer, linear) == linear

        regs, sregs = boot_state(BootMode.LONG, mem, 0x1000)
        assert mem.read_u64(layout.gdt + 8) == GDT_CODE64
        assert (sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer) == (
            0x80000011,
            layout.pml4,
            0x20,
            0x500,
        )
        assert sregs.cs.l == 1 and sregs.cs.db == 0
        for linear in (0, 0x1234, 0x1F_FFFF, 0xFFFF_F000):
            assert translate(mem, sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer, linear) == linear

        regs, sregs = boot_state(BootMode.REAL, mem, 0x7C00)
        assert (regs.rip, regs.rsp, sregs.cs.base, sregs.cs.selector, sregs.cr0) == (
            0x7C00,
            0xFFFE,
            0,
            0,
            0x10,
        )

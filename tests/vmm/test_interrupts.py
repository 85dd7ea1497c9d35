"""Guests with their own interrupt tables: exceptions and `int n` reach their handlers, with the
frame (return address, CS, error code) the CPU pushes. Real-mode `int n` on the emulator only:
PVM's KVM does not deliver it (tests/vmm/test_backend_differences.py)."""

from __future__ import annotations

import io

from gnu_guests import HC

from vmm import BootMode, RunEnd, run_flat

REAL_INT = HC + """
.code16
    mov word ptr [0x80 * 4], offset handler
    mov word ptr [0x80 * 4 + 2], 0
    int 0x80
after:
    mov bx, 5
    hc 0
handler:
    mov bp, sp
    mov bx, [bp]            # the return IP: the instruction after int
    sub bx, offset after
    hc 2
    mov bx, [bp + 2]        # CS
    hc 2
    iret
"""

PROTECTED_FAULTS = HC + """
.code32
    lidt [idtr]
    xor ecx, ecx
fault:
    div ecx                 # #DE: the return address is the div itself
after_div:
    mov ax, 0x1238          # #GP(0x1238): a selector beyond the GDT limit
gp:
    mov ds, ax
    hlt
de_handler:
    mov ebx, [esp]
    sub ebx, offset fault
    hc 2
    hc 3
    add esp, 12             # drop the frame (PVM's KVM cannot emulate iret) and go on
    jmp after_div
gp_handler:
    mov ebx, [esp]          # the error code
    hc 2
    hc 3
    mov ebx, [esp + 4]
    sub ebx, offset gp
    hc 2
    mov ebx, 7
    hc 0
.p2align 3
idt:
    .word de_handler, 0x08, 0x8e00, 0
    .fill 12, 8, 0
    .word gp_handler, 0x08, 0x8e00, 0
idtr:
    .word 14 * 8 - 1
    .long idt
"""

LONG_UD = HC + """
.code64
    lidt [rip + idtr]
fault:
    ud2
ud_handler:
    mov rbx, [rsp]          # RIP of the ud2
    lea rax, [rip + fault]
    sub rbx, rax
    hc 2
    hc 3
    mov rbx, [rsp + 8]      # CS
    hc 2
    hc 3
    mov rbx, [rsp + 32]     # SS
    hc 2
    mov ebx, 9
    hc 0
.p2align 4
idt:
    .fill 12, 8, 0
    .word ud_handler, 0x08, 0x8e00, 0
    .long 0, 0
idtr:
    .word 7 * 16 - 1
    .long idt, 0
"""


def test_real_mode_int_goes_through_the_ivt_and_iret_returns(asm) -> None:
    out = io.BytesIO()
    r = run_flat(asm(REAL_INT), output=out, timeout=5, backend="emu")
    assert (r.end, r.status, out.getvalue()) == (RunEnd.HC_EXIT, 5, b"00")


def test_protected_mode_faults_reach_idt_gates_with_their_error_code(backend: str,
                                                                     asm) -> None:
    out = io.BytesIO()
    r = run_flat(asm(PROTECTED_FAULTS), mode=BootMode.PROTECTED, output=out, timeout=5)
    assert (r.end, r.status) == (RunEnd.HC_EXIT, 7), r.report()
    assert out.getvalue() == f"0\n{0x1238}\n0".encode()


def test_long_mode_ud_reaches_a_64_bit_gate(backend: str, asm) -> None:
    out = io.BytesIO()
    r = run_flat(asm(LONG_UD), mode=BootMode.LONG, output=out, timeout=5)
    assert (r.end, r.status) == (RunEnd.HC_EXIT, 9), r.report()
    assert out.getvalue() == b"0\n8\n16"

LONG_DE_AFTER_IO = HC + """
.code64
    lidt [rip + idtr]
    mov ebx, 1
    hc 2                    # an exit first: the emulator's state after it must be clean
    mov rbx, cr2
    hc 2                    # CR2 is still 0
    xor ecx, ecx
    div ecx                 # #DE reaches its gate (not a #DF)
de_handler:
    mov rbx, [rsp]
    lea rax, [rip + de_handler - 2]
    sub rbx, rax
    hc 2                    # 0: the return address is the div
    mov ebx, 4
    hc 0
.p2align 4
idt:
    .word de_handler, 0x08, 0x8e00, 0
    .long 0, 0
idtr:
    .word 15
    .long idt, 0
"""


def test_long_mode_de_after_port_io_reaches_its_gate_with_cr2_untouched(backend: str,
                                                                         asm) -> None:
    """unicorn, asked to stop at an `until` address, translated it at the end of every run;
    in long mode that left a page fault behind (CR2 clobbered, and the next #DE made a #DF)."""
    out = io.BytesIO()
    r = run_flat(asm(LONG_DE_AFTER_IO), mode=BootMode.LONG, output=out, timeout=5)
    assert (r.end, r.status) == (RunEnd.HC_EXIT, 4), r.report()
    assert out.getvalue() == b"100"

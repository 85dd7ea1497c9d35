# ld fills the gap before an aligned input section of code with NOPs: elf_x86_64's 10-byte
# NOP over and over, then one for the rest (elf_i386 uses 66 90; see sections_unique_and_groups).
.code64
.globl _start
_start:
    nop
.section .text.a,"ax",@progbits
    .p2align 5
    hlt
.section .text.b,"ax",@progbits
    .p2align 4
    ret

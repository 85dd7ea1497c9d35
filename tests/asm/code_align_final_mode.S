# GNU picks the NOP table by the .code mode at the END of the file: 16-bit code padded here
# gets 32-bit NOPs because the file ends in .code32 (and vice versa for the 32-bit part).
.code16
.globl _start
_start:
    nop
    .balign 8
    movw $1, %ax
    .balign 16
    jmp pm
    .align 32
.code32
pm:
    nop
    .p2align 4
    movl $2, %eax
    .balign 64
    hlt
.code16
    nop
    .balign 16
    nop
.code32

# .text.* / .rodata.* / .data.* input sections follow their parent, as ld's *(.x) *(.x.*).
.code16
.globl _start
.section .text.init
init:
    movw $2, %ax
    ret
.section .rodata.str
s1: .asciz "sub"
.text
_start:
    call init
    movw $s1, %si
    movw $s0, %di
    movw d1, %ax
    hlt
.section .rodata
s0: .asciz "main"
.section .data.extra
d1: .word 0x1234
.data
d0: .word 0x5678
.section .text.late
    nop

# .text/.data/.bss/.section .rodata interleaved; every label keeps its own section.
.code16
.text
.globl _start
_start:
    movw $msg, %si
    movw counter, %ax
    movw %ax, buffer
    .data
counter:
    .word 0x1234
    .text
    incw counter
    .section .rodata
msg:
    .asciz "hi"
    .bss
buffer:
    .space 64
    .text
    movw $buffer+2, %di
    hlt
    .section .data
more:
    .long 0xdeadbeef
    .section .text
    movl more, %eax
    .section .bss
    .skip 16
after_bss:
    .section .text
    movw $after_bss, %bx
    hlt

# .data (and .rodata) switched in and out in the middle of code.
.code16
.globl _start
_start:
    movw $first, %si
.data
first:
    .word 0x1111
.text
    movw first, %ax
    jmp over
.data
second:
    .byte 1, 2, 3
.section .rodata
ro1:
    .ascii "ro"
.text
over:
    movw $second, %di
    movb second+2, %al
    movw $ro1, %bx
.data
third:
    .long third
.text
    hlt

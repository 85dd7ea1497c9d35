# .align/.balign/.p2align with plain decimals in data sections pad with zeros.
.code16
.globl _start
_start:
    movw $table, %si
    hlt

.data
    .byte 1
    .align 16
table:
    .word 1, 2, 3
    .balign 8
    .byte 5
    .p2align 2
    .long 6
    .byte 7
    .balign 32, 0xee
    .byte 8
    .align 4, 0x11
    .byte 9
    .balign 16, 0, 4
    .byte 10
    .balign 16, 0, 15
    .byte 11

.section .rodata
    .byte 0x40
    .p2align 3
ro:
    .asciz "aligned"

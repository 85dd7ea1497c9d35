# .org with a plain number and with label+N, with and without a fill byte.
.code16
.globl _start
_start:
    jmp main
    .org 16
table:
    .word 1, 2
    .org table+10, 0xff
main:
    movw table+2, %ax
    .org 40, 0x90
    hlt
    .org _start+48
    .byte 0x55
.data
    .byte 1
    .org 8
dvar:
    .word 2

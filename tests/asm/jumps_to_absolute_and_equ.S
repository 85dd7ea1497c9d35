# Branches to absolute addresses and .equ targets take the long form with a pc-relative field.
.code16
.globl _start
.equ ENTRY, 0x7c00
_start:
    jmp 0x1200
    call 0x1100
    jz 0x1300
    jmp ENTRY
    call ENTRY+4
    jmp _start
    hlt

# Alignment in code with an explicit fill value or a maximum skip, and the w/l variants.
.code16
.globl _start
_start:
    nop
    .balign 16, 0xcc
    nop
    .p2align 4, 0xf4
    nop
    .p2align 4,,7
    nop
    .p2align 5,,3
    nop
    .balign 8,,2
    .byte 1, 2, 3, 4, 5
    .balign 8,,2
    .balign 8
    nop
    nop
    .balignw 8, 0x9066
    .balign 16
    .byte 1, 2, 3, 4
    .balignl 16, 0x90909066
    nop
    .align 4
    .align 8, 0x90
    hlt
    .balign 8
    .byte 1, 2
    .p2alignw 3, 0x9066
    .byte 1, 2, 3, 4
    .p2alignl 4, 0x12345678
    .byte 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    .p2alignw 4, 0x1234, 6
    .p2alignw 4, 0x1234, 5
    .balign 16, 0x190
    hlt

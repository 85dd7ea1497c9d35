# .fill and .space counts computed from `.`, with every unit size.
.code16
.globl _start
_start:
    nop
    nop
    .fill 8-(.-_start), 1, 0xcc
second:
    movw $1, %ax
    .fill 4-(.-second), 1, 0x90
    .fill 3, 2, 0x1234
    .fill 2, 4, 0xdeadbeef
    .fill 2, 8, 0x11223344
    .fill 1, 3, 0x112233
    .fill 5
    .fill 2, 2
    .space 24-(.-_start), 0xaa
    .skip 2
    .zero 3
    .fill 0, 1, 0x55
    .fill (64-(.-_start))/2, 2, 0x9090
    hlt
third:
    jmp fourth
    .fill 3-(.-third), 2, 0x1234
    .fill 2-(.-third)+5, 4, 0xaabbccdd
fourth:
    .byte 0xee
    .fill 2+fourth-third-6, 1, 0x88
    .space fourth-third, 0x99
    .skip (fourth-third)/2
    hlt

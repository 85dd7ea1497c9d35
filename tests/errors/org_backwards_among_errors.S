.code16
_start:
    movx %ax
    .fill 16, 1, 0x90
    .org 8
    .bogus

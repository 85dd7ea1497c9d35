.code16
    .fill 16, 1, 0x90
    .org 8

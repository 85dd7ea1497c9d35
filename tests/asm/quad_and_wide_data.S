# .quad/.8byte with large and negative constants, and data expressions.
.code16
.globl _start
_start:
    hlt
    .balign 8
    .quad 0x123456789abcdef0
    .quad -1
    .quad 1 << 40
    .quad 18446744073709551615
    .8byte 42
    .long 0xffffffff, -2147483648
    .word -32768, 65535
    .byte -128, 255
    .quad (1 << 32) + 5

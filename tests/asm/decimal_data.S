# Data directives with plain decimals and every width name.
.code16
.globl _start
_start:
    hlt
    .word 1000
    .byte 100, 255, -1, 0
    .short 12345, -2
    .hword 4660
    .2byte 65535
    .value 80
    .long 100000, -100000
    .int 7
    .4byte 16777216
    .quad 1234567890123
    .8byte -2
    .byte 'A', '\n', 'z'
    .word 10 * 100 + 24, 1 << 10, 077, 0b1010, 0x7fff
    .dc.b 1, 200
    .dc.w 1000
    .dc 2
    .dc.l 100000
    .dc.a _start, 7

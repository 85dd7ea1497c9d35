# Code alignment in a file that ends in .code64: GNU's long-mode NOPs (as --64), which
# leave every register alone (as --32's 16/32-bit patterns would truncate RSI).
.code64
.globl _start
_start:
    .fill 254, 1, 0xcc
    nop
    .balign 256
    .fill 253, 1, 0xcc
    nop
    .balign 256
    .fill 252, 1, 0xcc
    nop
    .balign 256
    .fill 251, 1, 0xcc
    nop
    .balign 256
    .fill 250, 1, 0xcc
    nop
    .balign 256
    .fill 249, 1, 0xcc
    nop
    .balign 256
    .fill 248, 1, 0xcc
    nop
    .balign 256
    .fill 247, 1, 0xcc
    nop
    .balign 256
    .fill 246, 1, 0xcc
    nop
    .balign 256
    .fill 245, 1, 0xcc
    nop
    .balign 256
    .fill 244, 1, 0xcc
    nop
    .balign 256
    .fill 243, 1, 0xcc
    nop
    .balign 256
    .fill 242, 1, 0xcc
    nop
    .balign 256
    .fill 241, 1, 0xcc
    nop
    .balign 256
    .fill 240, 1, 0xcc
    nop
    .balign 256
    .fill 239, 1, 0xcc
    nop
    .balign 256
    .fill 238, 1, 0xcc
    nop
    .balign 256
    .fill 237, 1, 0xcc
    nop
    .balign 256
    .fill 236, 1, 0xcc
    nop
    .balign 256
    .fill 235, 1, 0xcc
    nop
    .balign 256
    .fill 234, 1, 0xcc
    nop
    .balign 256
    .fill 233, 1, 0xcc
    nop
    .balign 256
    .fill 232, 1, 0xcc
    nop
    .balign 256
    .fill 231, 1, 0xcc
    nop
    .balign 256
    .fill 230, 1, 0xcc
    nop
    .balign 256
    .fill 229, 1, 0xcc
    nop
    .balign 256
    .fill 228, 1, 0xcc
    nop
    .balign 256
    .fill 227, 1, 0xcc
    nop
    .balign 256
    .fill 226, 1, 0xcc
    nop
    .balign 256
    .fill 225, 1, 0xcc
    nop
    .balign 256
    .fill 224, 1, 0xcc
    nop
    .balign 256
    .fill 223, 1, 0xcc
    nop
    .balign 256
    .fill 222, 1, 0xcc
    nop
    .balign 256
    .fill 221, 1, 0xcc
    nop
    .balign 256
    .fill 220, 1, 0xcc
    nop
    .balign 256
    .fill 219, 1, 0xcc
    nop
    .balign 256
    .fill 218, 1, 0xcc
    nop
    .balign 256
    .fill 217, 1, 0xcc
    nop
    .balign 256
    .fill 216, 1, 0xcc
    nop
    .balign 256
    .fill 215, 1, 0xcc
    nop
    .balign 256
    .fill 168, 1, 0xcc
    nop
    .balign 256
    .fill 167, 1, 0xcc
    nop
    .balign 256
    .fill 155, 1, 0xcc
    nop
    .balign 256
    .fill 55, 1, 0xcc
    nop
    .balign 256

# A relaxation chain: growing one branch pushes the next out of rel8 range, and so on.
.code16
.globl _start
_start:
    jmp a
    jz b
    jnz c
    jmp d
    .fill 120, 1, 0x90
a:  nop
    .fill 3, 1, 0x90
b:  nop
    .fill 3, 1, 0x90
c:  nop
    .fill 3, 1, 0x90
d:  nop
    # backward chain
e:  .fill 118, 1, 0x90
    jmp e
    jz e
    jnz e
    # exactly at the edges of rel8
f:  .fill 125, 1, 0x90
    jmp f
g:  jmp h
    .fill 127, 1, 0x90
h:  jmp i
    .fill 128, 1, 0x90
i:  hlt

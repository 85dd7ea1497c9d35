# 32-bit branches: short when in reach, rel32 beyond, loops and jecxz.
.code32
.globl _start
_start:
    jmp far
    jz far
    jnz near
    call far
    loop near
    jecxz near
    jcxz near
near:
    .fill 300, 1, 0x90
far:
    jmp _start
    jle _start
    jg near
    jmp far
    loopne far
    call _start
    hlt

# Jumps beyond rel8 in 16-bit code: GNU uses e9 rel16 / 0f 8x rel16 (no 0x66, no rel32).
.code16
.globl _start
_start:
    jmp far_ahead
    je far_ahead
    jne far_ahead
    jc far_ahead
    ja far_ahead
    call far_ahead
    jmp near_ahead
near_ahead:
    .fill 200, 1, 0x90
far_ahead:
    .fill 300, 1, 0x90
    jmp _start
    jl _start
    jge near_ahead
    call _start
    jmp back_short
back_short:
    jz back_short
    hlt

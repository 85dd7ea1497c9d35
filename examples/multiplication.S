# multiplication.S: the times table 2x1 .. 9x9 (72 lines), in the seed report's plain form:
# AL = hypercall number, BX = argument, OUT to port 0x500.
# 10 hypercalls a line + HC_EXIT = 721 VM exits.
#include <hypercall.h>

.code16
.globl _start
_start:
    mov $2, %cl                 # CL = dan (outer counter)
outer_loop:
    mov $1, %ch                 # CH = multiplier (inner counter)
inner_loop:
    movzx %cl, %bx              # print dan
    mov $HC_PUTNUM, %al
    mov $HYPERCALL_PORT, %dx
    out %al, (%dx)

    mov $HC_PUTCHAR, %al        # print " x "
    mov $' ', %bl
    out %al, (%dx)
    mov $'x', %bl
    out %al, (%dx)
    mov $' ', %bl
    out %al, (%dx)

    movzx %ch, %bx              # print multiplier
    mov $HC_PUTNUM, %al
    out %al, (%dx)

    mov $HC_PUTCHAR, %al        # print " = "
    mov $' ', %bl
    out %al, (%dx)
    mov $'=', %bl
    out %al, (%dx)
    mov $' ', %bl
    out %al, (%dx)

    mov %cl, %al                # AX = AL * BL; CL and CH survive
    mov %ch, %bl
    mul %bl
    movzx %al, %bx
    mov $HC_PUTNUM, %al
    out %al, (%dx)

    mov $HC_NEWLINE, %al
    out %al, (%dx)

    inc %ch
    cmp $10, %ch
    jl inner_loop
    inc %cl
    cmp $10, %cl
    jl outer_loop

    mov $0, %bx                 # exit status 0
    mov $HC_EXIT, %al
    out %al, (%dx)

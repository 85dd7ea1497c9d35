# protected/multiplication.S: the times table 2x1 .. 9x9 (72 lines) of examples/multiplication.S,
# in 32-bit protected mode: AL = hypercall number, EBX = argument, OUT to port 0x500.
# Same output byte for byte; 10 hypercalls a line + HC_EXIT = 721 VM exits.
#include <hypercall.h>

.code32
.globl _start
_start:
    movl $2, %ecx               # ECX = dan (outer counter)
    movw $HYPERCALL_PORT, %dx
outer_loop:
    movl $1, %esi               # ESI = multiplier (inner counter)
inner_loop:
    movl %ecx, %ebx             # print dan
    movb $HC_PUTNUM, %al
    outb %al, (%dx)

    movb $HC_PUTCHAR, %al       # print " x "
    movb $' ', %bl
    outb %al, (%dx)
    movb $'x', %bl
    outb %al, (%dx)
    movb $' ', %bl
    outb %al, (%dx)

    movl %esi, %ebx             # print multiplier
    movb $HC_PUTNUM, %al
    outb %al, (%dx)

    movb $HC_PUTCHAR, %al       # print " = "
    movb $' ', %bl
    outb %al, (%dx)
    movb $'=', %bl
    outb %al, (%dx)
    movb $' ', %bl
    outb %al, (%dx)

    movl %ecx, %ebx             # EBX = dan * multiplier
    imull %esi, %ebx
    movb $HC_PUTNUM, %al
    outb %al, (%dx)

    movb $HC_NEWLINE, %al
    outb %al, (%dx)

    incl %esi
    cmpl $10, %esi
    jl inner_loop
    incl %ecx
    cmpl $10, %ecx
    jl outer_loop

    hc_exit $0

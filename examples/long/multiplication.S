# long/multiplication.S: the times table 2x1 .. 9x9 (72 lines) of examples/multiplication.S,
# in 64-bit long mode: AL = hypercall number, RBX = argument, OUT to port 0x500.
# Same output byte for byte; 10 hypercalls a line + HC_EXIT = 721 VM exits.
#include <hypercall.h>

.code64
.globl _start
_start:
    movq $2, %rcx               # RCX = dan (outer counter)
    movw $HYPERCALL_PORT, %dx
outer_loop:
    movq $1, %r8                # R8 = multiplier (inner counter)
inner_loop:
    movq %rcx, %rbx             # print dan
    movb $HC_PUTNUM, %al
    outb %al, (%dx)

    movb $HC_PUTCHAR, %al       # print " x "
    movb $' ', %bl
    outb %al, (%dx)
    movb $'x', %bl
    outb %al, (%dx)
    movb $' ', %bl
    outb %al, (%dx)

    movq %r8, %rbx              # print multiplier
    movb $HC_PUTNUM, %al
    outb %al, (%dx)

    movb $HC_PUTCHAR, %al       # print " = "
    movb $' ', %bl
    outb %al, (%dx)
    movb $'=', %bl
    outb %al, (%dx)
    movb $' ', %bl
    outb %al, (%dx)

    movq %rcx, %rbx             # RBX = dan * multiplier
    imulq %r8, %rbx
    movb $HC_PUTNUM, %al
    outb %al, (%dx)

    movb $HC_NEWLINE, %al
    outb %al, (%dx)

    incq %r8
    cmpq $10, %r8
    jl inner_loop
    incq %rcx
    cmpq $10, %rcx
    jl outer_loop

    hc_exit $0

# multiplication_batched.S: the times table of multiplication.S (2x1 .. 9x9, 72 lines), byte for
# byte the same output, but formatted into guest memory first and printed with one HC_WRITE
# (DS:BX = buffer, CX = length in real mode). HC_WRITE + HC_EXIT = 2 VM exits, against 721.
#include <hypercall.h>

.code16
.globl _start
_start:
    xorw %ax, %ax
    movw %ax, %ds               # HC_WRITE reads DS:BX; STOSB writes ES:DI
    movw %ax, %es
    cld
    movw $table, %di            # DI = end of the text so far
    movb $2, %cl                # CL = dan (outer counter)
outer_loop:
    movb $1, %ch                # CH = multiplier (inner counter)
inner_loop:
    movb %cl, %al               # "D x M = "
    addb $'0', %al
    stosb
    movb $' ', %al
    stosb
    movb $'x', %al
    stosb
    movb $' ', %al
    stosb
    movb %ch, %al
    addb $'0', %al
    stosb
    movb $' ', %al
    stosb
    movb $'=', %al
    stosb
    movb $' ', %al
    stosb

    movb %cl, %al               # the product, one or two digits
    mulb %ch                    # AX = AL * CH
    movb $10, %bl
    divb %bl                    # AL = tens, AH = ones
    testb %al, %al
    jz ones
    addb $'0', %al
    stosb
ones:
    movb %ah, %al
    addb $'0', %al
    stosb
    movb $'\n', %al
    stosb

    incb %ch
    cmpb $10, %ch
    jb inner_loop
    incb %cl
    cmpb $10, %cl
    jb outer_loop

    movw %di, %cx               # CX = length, BX = start: the whole table in one exit
    subw $table, %cx
    movw $table, %bx
    hc_call HC_WRITE
    hc_exit $0

.bss
table:
    .skip 1024                  # 72 lines of at most 11 bytes

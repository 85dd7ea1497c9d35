# irq/exception_real.S: a divide error caught by the guest's own handler (real mode).
#
# Dividing by zero raises exception 0, the divide error (#DE). In real mode the CPU finds the
# handler in the interrupt vector table at address 0 (a vector is 4 bytes: offset, then
# segment), pushes FLAGS, CS and IP, and jumps there. The IP pushed is that of the div itself:
# after a fault the CPU returns to the instruction that faulted, to run it again. This handler
# prints the vector, moves the return address past the 2-byte div and returns with iret, so
# the program resumes after the division.
#include <hypercall.h>

.equ DE_VECTOR, 0
.equ DIV_LENGTH, 2              # divw %cx is f7 f1

.code16
.globl _start
_start:
    xorw %ax, %ax
    movw %ax, %ds
    movw $divide_error, DE_VECTOR * 4   # the vector: the handler's offset...
    movw %ax, DE_VECTOR * 4 + 2         # ...and segment
    hc_print "real mode: dividing 7 by 0\n"
    movw $7, %ax
    xorw %dx, %dx
    xorw %cx, %cx
    divw %cx                    # #DE: the CPU calls divide_error
    hc_print "resumed after the division\n"
    hc_exit

# One stub per vector pushes its number, then the common part runs.
divide_error:
    pushw $DE_VECTOR
    jmp exception

# The stack: the vector, then what the CPU pushed: IP, CS, FLAGS.
exception:
    pushw %bp
    movw %sp, %bp               # 2(%bp): the vector, 4(%bp): the return IP
    pushl %ebx                  # the hypercall macros clobber AL, DX and EBX
    pushw %ax
    pushw %dx
    hc_print "caught exception "
    movzwl 2(%bp), %ebx
    hc_call HC_PUTNUM
    hc_print " (divide error), skipping the div\n"
    addw $DIV_LENGTH, 4(%bp)
    popw %dx
    popw %ax
    popl %ebx
    popw %bp
    addw $2, %sp                # drop the vector
    iret

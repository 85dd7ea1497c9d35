# irq/exception_protected.S: a divide error caught by the guest's own handler (32-bit
# protected mode, with an IDT).
#
# Dividing by zero raises exception 0, the divide error (#DE). In protected mode the CPU finds
# the handler through the interrupt descriptor table (IDT, loaded with lidt): each vector has
# an 8-byte gate naming a code segment and an offset. It pushes EFLAGS, CS and EIP (the EIP of
# the div itself: after a fault the CPU returns to the instruction that faulted) and jumps
# there. This handler prints the vector, moves the return address past the 2-byte div and
# returns with iret, so the program resumes after the division.
#include <hypercall.h>

.equ DE_VECTOR, 0
.equ DIV_LENGTH, 2              # divl %ecx is f7 f1
.equ CODE_SELECTOR, 0x08        # the flat code segment of the GDT kasm boots with

.code32
.globl _start
_start:
    lidt idtr
    hc_print "protected mode: dividing 7 by 0\n"
    movl $7, %eax
    xorl %edx, %edx
    xorl %ecx, %ecx
    divl %ecx                   # #DE: the CPU calls divide_error through the IDT
    hc_print "resumed after the division\n"
    hc_exit

# One stub per vector pushes its number, then the common part runs.
divide_error:
    pushl $DE_VECTOR
    jmp exception

# The stack: the vector, then what the CPU pushed: EIP, CS, EFLAGS.
exception:
    pushl %ebp
    movl %esp, %ebp             # 4(%ebp): the vector, 8(%ebp): the return EIP
    pushl %eax                  # the hypercall macros clobber AL, DX and EBX
    pushl %ebx
    pushl %edx
    hc_print "caught exception "
    movl 4(%ebp), %ebx
    hc_call HC_PUTNUM
    hc_print " (divide error), skipping the div\n"
    addl $DIV_LENGTH, 8(%ebp)
    popl %edx
    popl %ebx
    popl %eax
    popl %ebp
    addl $4, %esp               # drop the vector
    iret

.section .rodata
.p2align 3
idt:                            # vector 0: a 32-bit interrupt gate to divide_error
    .word divide_error          # offset bits 0-15
    .word CODE_SELECTOR
    .word 0x8e00                # present, ring 0, 32-bit interrupt gate
    .word 0                     # offset bits 16-31 (kasm links below 64 KiB)
idt_end:
idtr:
    .word idt_end - idt - 1
    .long idt

# irq/exception_long.S: a divide error caught by the guest's own handler (64-bit long mode,
# with an IDT).
#
# Dividing by zero raises exception 0, the divide error (#DE). In long mode the CPU finds the
# handler through the interrupt descriptor table (IDT, loaded with lidt): each vector has a
# 16-byte gate naming a 64-bit code segment and an offset. It pushes SS, RSP, RFLAGS, CS and
# RIP (the RIP of the div itself: after a fault the CPU returns to the instruction that
# faulted) and jumps there. This handler prints the vector, moves the return address past the
# 2-byte div and returns with iretq, so the program resumes after the division.
#include <hypercall.h>

.equ DE_VECTOR, 0
.equ DIV_LENGTH, 2              # divl %ecx is f7 f1
.equ CODE_SELECTOR, 0x08        # the 64-bit code segment of the GDT kasm boots with

.code64
.globl _start
_start:
    lidt idtr(%rip)
    hc_print "long mode: dividing 7 by 0\n"
    movl $7, %eax
    xorl %edx, %edx
    xorl %ecx, %ecx
    divl %ecx                   # #DE: the CPU calls divide_error through the IDT
    hc_print "resumed after the division\n"
    hc_exit

# One stub per vector pushes its number, then the common part runs.
divide_error:
    pushq $DE_VECTOR
    jmp exception

# The stack: the vector, then what the CPU pushed: RIP, CS, RFLAGS, RSP, SS.
exception:
    pushq %rbp
    movq %rsp, %rbp             # 8(%rbp): the vector, 16(%rbp): the return RIP
    pushq %rax                  # the hypercall macros clobber AL, DX and EBX
    pushq %rbx
    pushq %rdx
    hc_print "caught exception "
    movq 8(%rbp), %rbx
    hc_call HC_PUTNUM
    hc_print " (divide error), skipping the div\n"
    addq $DIV_LENGTH, 16(%rbp)
    popq %rdx
    popq %rbx
    popq %rax
    popq %rbp
    addq $8, %rsp               # drop the vector
    iretq

.section .rodata
.p2align 4
idt:                            # vector 0: a 64-bit interrupt gate to divide_error
    .word divide_error          # offset bits 0-15
    .word CODE_SELECTOR
    .word 0x8e00                # present, ring 0, 64-bit interrupt gate
    .word 0                     # offset bits 16-31 (kasm links below 64 KiB)
    .long 0                     # offset bits 32-63
    .long 0
idt_end:
idtr:
    .word idt_end - idt - 1
    .quad idt

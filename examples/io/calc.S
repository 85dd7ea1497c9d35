# io/calc.S: read two signed decimal numbers from stdin and print their sum, difference and
# product (64-bit long mode, wrapping at 2^64). A number is digits with an optional '-' right
# before them; anything else separates numbers.
#   echo 12 34 | kasm run examples/io/calc.S
#   ->  "12 + 34 = 46\n12 - 34 = -22\n12 * 34 = 408\n"
# Fewer than two numbers before the end of input: "calc: need two numbers\n", exit status 1.
# Each input byte read is one HC_GETCHAR exit (reading stops after the second number's first
# non-digit); each line is 6 exits (PUTNUM, PUTS, PUTNUM, PUTS, PUTNUM, NEWLINE) plus a PUTCHAR
# for every '-' printed; then HC_EXIT. "12 34\n" -> 6 + 18 + 1 (the '-') + 1 = 26 VM exits.
#include <hypercall.h>

.code64
.globl _start
_start:
    call read_number
    jc missing
    movq %rax, %r12             # R12 = a
    call read_number
    jc missing
    movq %rax, %r13             # R13 = b

    movq %r12, %r14             # a + b
    addq %r13, %r14
    movb $'+', %r15b
    call print_line
    movq %r12, %r14             # a - b
    subq %r13, %r14
    movb $'-', %r15b
    call print_line
    movq %r12, %r14             # a * b
    imulq %r13, %r14
    movb $'*', %r15b
    call print_line
    hc_exit

missing:
    hc_puts $text_missing
    hc_exit $1

# print_line: "A op B = R\n" with A = R12, B = R13, op = R15B, R = R14.
print_line:
    movq %r12, %rbx
    call print_signed
    movb %r15b, operator+1(%rip)    # patch the operator into " ? "
    hc_puts $operator
    movq %r13, %rbx
    call print_signed
    hc_puts $equals
    movq %r14, %rbx
    call print_signed
    hc_newline
    ret

# print_signed: print RBX as a signed number ('-' then the magnitude with HC_PUTNUM).
print_signed:
    testq %rbx, %rbx
    jns .Lpositive
    movq %rbx, %rcx
    hc_putchar $'-'
    movq %rcx, %rbx
    negq %rbx
.Lpositive:
    hc_call HC_PUTNUM
    ret

# read_number: the next number from stdin in RAX, CF clear; CF set at end of input with no
# digits read. Clobbers RAX, RBX, RDX, R8, R9.
read_number:
    xorl %r8d, %r8d             # R8 = value
.Lstart:
    xorl %r9d, %r9d             # R9 = 1 after a '-'
    hc_getchar .Lnone
.Lsign:
    cmpb $'-', %al
    jne .Lfirst
    movl $1, %r9d
    hc_getchar .Lnone
    cmpb $'-', %al
    je .Lsign
.Lfirst:
    subb $'0', %al
    cmpb $9, %al
    ja .Lstart                  # not a digit: keep looking
.Ldigit:
    imulq $10, %r8, %r8         # R8 = R8 * 10 + digit
    movzbl %al, %eax
    addq %rax, %r8
    hc_getchar .Ldone
    subb $'0', %al
    cmpb $9, %al
    jbe .Ldigit
.Ldone:
    movq %r8, %rax
    testl %r9d, %r9d
    jz .Lpositive_number
    negq %rax
.Lpositive_number:
    clc
    ret
.Lnone:
    stc
    ret

.data
operator:
    .asciz " ? "
equals:
    .asciz " = "
text_missing:
    .asciz "calc: need two numbers\n"

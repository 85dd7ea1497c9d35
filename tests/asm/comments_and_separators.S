# Comments after operand-less instructions, `;` separators, block comments.
.code16
.globl _start
_start:
    nop # a comment right after an instruction with no operands
    cli              # another
    pushf; popf; nop
    movw $1, %ax ; movw $2, %bx   # two statements
    /* a block comment */ hlt
    /* a block
       comment over lines */
    ret # done
label: # a label with a comment
    cld ; std ; clc
    .byte 1 # data with a comment
    .ascii "not # a comment"
    .ascii "not ; a separator"
    hlt

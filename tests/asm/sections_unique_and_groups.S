# Sections that share a name: `unique,N` and comdat groups make sections of their own, which
# ld places in input order after the plain .text (*(.text) *(.text.*)); the gap before an
# aligned input section of code is ld's NOP fill, not zeros.
.code32
.globl _start
_start:
    nop
.section .text.b,"ax",@progbits,unique,2
    hlt
.section .text.a,"ax",@progbits,unique,1
    int3
.section .text.b,"ax",@progbits,unique,1
    ret
.section .text.f,"axG",@progbits,f1,comdat
    cld
.section .text.f,"axG",@progbits,f2,comdat
    std
.section .text.f,"axG",@progbits,f1,comdat
    cli
.section .text,"ax",@progbits,unique,3
    sti
.section .text.aligned,"ax",@progbits
    .p2align 4
    clc
.section .rodata.str1.1,"aMS",@progbits,1
    .asciz "no two strings alike"
    .asciz "so ld merges nothing"
.text
    .type _start, @function

# minimal.S: the smallest guest. One instruction, one VM exit (HLT).
.code16
.globl _start
_start:
    hlt

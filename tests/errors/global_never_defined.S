.globl _start
.code16
    hlt

# .bss with .space/.skip/.zero and alignment; labels after it resolve to their bss addresses.
.code16
.globl _start
_start:
    movw $stack_top, %sp
    movw $buf, %di
    movw $flag, %bx
    movw %ax, counter
    hlt
.data
    .byte 1
.bss
    .balign 4
counter:
    .word 0
flag:
    .byte 0
    .balign 16
buf:
    .skip 256
stack:
    .zero 512
stack_top:

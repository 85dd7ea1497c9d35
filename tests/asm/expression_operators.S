# GNU expression operators and precedence, in data and immediates.
.code16
.globl _start
.equ A, 10
.equ B, 3
_start:
    movw $A*B+1, %ax
    movw $A+B*2, %bx
    movw $(A+B)*2, %cx
    movw $A/B, %dx
    movw $A%B, %si
    movw $-A/B, %di
    movw $1<<4|1, %bp
    movw $0xff&~0x0f, %ax
    movw $A^B, %bx
    movw $A-B-1, %cx
    movw $A>B, %dx
    movw $-(A<B), %si
    movw $!0, %ax
    movw $~0 & 0xffff, %ax
    .word A==10, A!=10, A<>B, A>=B, A<=B
    .word A&&B, A||0, 0||0
    .word 7 >> 1, -8 >> 1, 1 + 2 * 3 - 4 / 2
    .long 0x7fffffff + 1, -1 * 5
    .byte 'a' - 'A', 'z' & 0x5f
    hlt

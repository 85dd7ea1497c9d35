# A label difference inside one fragment is a constant at parse time (imm8 forms); a forward
# reference or a difference across a relaxable jump gets the full-width field, as in GNU.
.code16
.globl _start
_start:
a:  nop
    nop
b:  addw $(b-a), %ax
    addw $(c-b), %ax
    movw $(b-a), %cx
    cmpw $(b-a), %bx
    pushw $(b-a)
    imulw $(b-a), %dx, %dx
    jmp c
c:  addw $(c-a), %ax
    addw $(d-c), %ax
d:  nop
    addw $fwd, %si
    .equ fwd, 3
    addw $fwd, %si
    .long d - a, c - b

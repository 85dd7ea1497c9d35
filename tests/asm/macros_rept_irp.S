# .rept, .irp, .irpc and .macro with arguments, defaults, keyword arguments and \@.
.code16
.globl _start
.macro load reg, value=0
    movw $\value, \reg
.endm
.macro pushall regs:vararg
    .irp r, \regs
    push \r
    .endr
.endm
.macro counted
    jmp 1f
    .byte \@
1:
.endm
.macro outer a
    inner \a, 2
.endm
.macro inner x, y
    .byte \x, \y
.endm
_start:
    load %ax
    load %bx, 1000
    load value=7, reg=%cx
    pushall %ax, %bx, %cx
    .rept 3
    inc %ax
    .endr
    .irp n, 1, 2, 3
    addw $\n, %bx
    .endr
    .irpc c, 123
    .byte \c
    .endr
    counted
    counted
    outer 9
    .rept 2
    .rept 2
    nop
    .endr
    .endr
    .rept 0
    hlt
    .endr
    hlt

# Local labels inside macros and .rept, and macros using numeric and named labels with \@.
.code16
.globl _start
.macro spin n
    movw $\n, %cx
1:  loop 1b
.endm
.macro mark
.Lm\@:
    jmp .Lm\@
.endm
_start:
    spin 3
    spin 1000
    .rept 3
1:  dec %ax
    jnz 1b
    .endr
    mark
    mark
    jmp 2f
    .rept 2
    nop
    .endr
2:  hlt

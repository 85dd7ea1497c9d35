# .exitm ends an expansion early; an empty macro argument takes the default; .irp/.irpc
# with no values assemble the body once (all as GNU as does).
.code16
.macro m n
    .byte \n
    .if \n > 2
    .exitm
    .endif
    .byte 0xee
.endm
.macro m1 a=5, b
    .byte \a, \b
.endm
.globl _start
_start:
    hlt
    m 5
    m 1
    m1 , 3
    .irp x
    .byte 7
    .endr
    .irpc c
    .byte 8
    .endr

# .if/.ifdef/.ifndef/.else/.elseif/.ifeq/.ifne/.ifb/.ifc and nesting.
.code16
.globl _start
.equ DEBUG, 1
.equ LEVEL, 3
_start:
.if DEBUG
    movw $1, %ax
.else
    movw $2, %ax
.endif
.ifdef DEBUG
    nop
.endif
.ifndef NOT_DEFINED
    cli
.else
    sti
.endif
.if LEVEL == 1
    .byte 1
.elseif LEVEL == 3
    .byte 3
.else
    .byte 0
.endif
.ifeq LEVEL - 3
    .byte 0x33
.endif
.ifne LEVEL
    .byte 0x44
.endif
.if LEVEL > 2
  .if LEVEL < 5
    .byte 0x55
  .else
    .byte 0x66
  .endif
.endif
.ifgt LEVEL - 10
    .byte 0x77
.endif
.macro opt arg
.ifb \arg
    .byte 0xb0
.else
    .byte \arg
.endif
.endm
    opt
    opt 0xb1
.ifc abc, abc
    .byte 0xc1
.endif
.ifnc abc, abd
    .byte 0xc2
.endif
    hlt

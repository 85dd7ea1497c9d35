.code16
_start:
    hlt
.data
    .byte WIDE, NARROW
.equ WIDE, -256
.equ NARROW, -255

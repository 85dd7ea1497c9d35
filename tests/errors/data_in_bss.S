.code16
_start: hlt
.bss
    .byte 1

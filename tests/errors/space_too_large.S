.code16
_start: hlt
    .space 0x7fffffffff

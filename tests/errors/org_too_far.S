.code16
_start: hlt
    .org 0x7fffffff

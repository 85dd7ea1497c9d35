# Directives that emit nothing (symbol attributes, listing) and .global/.globl.
.file "misc_directives.S"
.code16
.globl _start
.global helper
.type _start, @function
.type helper, @function
.hidden helper
.ident "kasm corpus"
_start:
    call helper
    hlt
.size _start, . - _start
helper:
    ret
.size helper, . - helper
.local internal
internal:
    .byte 1
.weak weak_sym
weak_sym:
    .byte 2
.att_syntax
    nop

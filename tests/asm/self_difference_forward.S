# A difference of a symbol with itself is 0 at once, even before the symbol is defined,
# so it takes the short immediate and displacement forms, as in GNU as.
.code16
.globl _start
_start:
    addw $(L0-L0), %ax
    incw L0-L0(%si)
    .byte (later-later)
L0: hlt
msg: .ascii "x"
later:

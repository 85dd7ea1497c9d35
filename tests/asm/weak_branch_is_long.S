# A branch to a .weak symbol is long from the start in GNU (the symbol may be replaced at
# link time), even when its definition is one byte away.
.code32
    .weak W
_start:
    jmp W
    nop
W:  ret

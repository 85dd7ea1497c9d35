.code64
_start:
    mov 0x10(%eip), %eax
    mov 0x10(%rip), %eax
    rex64 nop
    hlt

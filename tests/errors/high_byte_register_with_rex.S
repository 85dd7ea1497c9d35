.code64
_start:
    movb %ah, %r8b
    movb %ah, (%rax)
    cmpb %bh, %dil
    movb %ch, 0x10(%r12)
    hlt

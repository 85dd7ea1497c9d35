.code32
_start:
    lea 4(%eip), %eax
    hlt

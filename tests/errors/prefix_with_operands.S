.code64
_start:
    rex64 %r8
    rex64 (%eax)
    rex64 $1
    movzx
    hlt

.code32
_start:
    mov (%xmm0), %eax
    incl (%eax,%xmm1,4)
    mov (%si,%bx), %ax
    mov (%eax,%esp), %eax
    add (%dx), %al
    in (%dx), %al
    hlt

.code32
_start:
    incq (%eax)
    cltq
    fxsave64 (%eax)
    hlt

.code32
_start:
    rep addl $1, %eax
    repne lock addl $1, (%eax)
    rep nopl (%eax)
    rep movsb
    rep ret
    hlt

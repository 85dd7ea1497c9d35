.code16
_start:
    cl (%bx)
    incw (%bx)
    hlt

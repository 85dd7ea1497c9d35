.code16
start:
    nop
start:
    hlt

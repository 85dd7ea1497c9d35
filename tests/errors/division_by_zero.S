.code16
    hlt
    .byte 1/0

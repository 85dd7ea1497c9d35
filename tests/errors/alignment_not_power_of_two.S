.code16
    hlt
    .balign 3

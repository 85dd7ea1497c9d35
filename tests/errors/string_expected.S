.code16
    hlt
    .ascii hello

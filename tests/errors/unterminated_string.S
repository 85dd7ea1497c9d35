.code16
    hlt
    .ascii "never closed

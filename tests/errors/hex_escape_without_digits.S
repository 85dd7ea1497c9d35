.code16
    hlt
    .ascii "\x"

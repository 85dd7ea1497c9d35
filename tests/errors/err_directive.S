.code16
    hlt
.err

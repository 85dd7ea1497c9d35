.code16
    hlt
.endr

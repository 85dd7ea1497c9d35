.code16
    hlt
.endm

.code16
    hlt
.popsection

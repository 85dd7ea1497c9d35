.code16
.include "missing.inc"
    hlt

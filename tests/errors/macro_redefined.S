.macro twice
    nop
.endm
.macro twice
    nop
.endm
    hlt

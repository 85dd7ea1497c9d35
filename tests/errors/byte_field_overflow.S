.code16
    hlt
.data
    .byte message
message: .ascii "x"

.data
    .byte 1

# fuzz: nested .rept/.irp expansions ran for minutes before the statement limit stopped them
# (and a big .rept body was copied count times first); an expansion that would pass the
# limit is refused when it starts
.code16
    hlt
    .rept 300000
    .byte 1
    .byte 2
    .endr

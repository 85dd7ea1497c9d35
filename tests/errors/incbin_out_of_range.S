.code16
_start: hlt
    .incbin "incbin_out_of_range.S", 0, 99999

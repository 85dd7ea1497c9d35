# fuzz: an empty .rept body was still looped over count times: 20,000 empty .rept 400000
# blocks took minutes
.code16
    hlt
    .rept 20000
    .rept 400000
    .endr
    .endr
    .err

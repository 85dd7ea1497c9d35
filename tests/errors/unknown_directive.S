.code16
    .frobnicate 1
    hlt

# fuzz: .align with an empty alignment failed an assertion
.code16
    hlt
    .align , 5

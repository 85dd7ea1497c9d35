# fuzz: the character constant '\'' (a quote) raised TypeError
.code16
    hlt
    .byte '\'', '\'' 1

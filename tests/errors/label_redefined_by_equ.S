.code16
there: hlt
.equ there, 5

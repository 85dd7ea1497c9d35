.macro one a
    mov $\a, %ax
.endm
.code16
    one 1, 2

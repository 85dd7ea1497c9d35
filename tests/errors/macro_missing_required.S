.macro need a:req
    mov $\a, %ax
.endm
.code16
    need

.code16
    mov $(1+2, %ax

.code16
    mov $nowhere, %ax
    hlt

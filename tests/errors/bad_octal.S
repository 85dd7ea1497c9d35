.code16
    mov $09, %ax

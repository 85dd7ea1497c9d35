.code16
    mov $12ab, %ax

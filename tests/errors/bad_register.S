.code16
    mov %ax, %zx

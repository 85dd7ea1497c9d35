.code16
    mov ax, bx

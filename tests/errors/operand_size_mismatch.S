.code16
    mov %al, %bx

.code16
    movx %ax, %bx
    mov %al, %bx
    .bogus
    hlt

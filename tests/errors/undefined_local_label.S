.code16
    jmp 1f
    hlt

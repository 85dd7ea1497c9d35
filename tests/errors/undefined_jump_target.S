.code16
    jmp away

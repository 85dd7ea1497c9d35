.code16
    jmp 1b
1:  hlt

.bss
    hlt

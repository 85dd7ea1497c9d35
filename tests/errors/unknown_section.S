.section .weird
    hlt

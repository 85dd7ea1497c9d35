.if 1
    hlt

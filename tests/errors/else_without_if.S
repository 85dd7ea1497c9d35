.else
    hlt

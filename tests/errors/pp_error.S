#error "stop here"
    hlt

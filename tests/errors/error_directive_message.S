.code16
    hlt
.error "configuration not supported"

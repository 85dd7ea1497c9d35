.intel_syntax noprefix
    hlt

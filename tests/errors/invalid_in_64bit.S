.code64
    push %eax

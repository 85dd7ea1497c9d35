.code64
_start:
    into
    es movl (%rax), %eax
    salc
    icebp
    cs nop
    hlt

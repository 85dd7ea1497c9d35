# .nops starts at 0 bytes in GNU's first guess (rs_space_nop) and grows: the je stays short in
# pass 1, and jmp A, judged before the alignment absorbs the growth, goes long for good.
.code32
_start:
    je T
    .nops 10
    .fill 120, 1, 0x90
T:  .fill 4, 1, 0x90
A:  .fill 122, 1, 0x90
    .p2align 3
    jmp A
    ret

# Branches relaxed with alignments between them and their targets reach GNU's fixed point:
# GNU updates addresses frag by frag within a pass (a later branch sees an earlier one's
# growth at once, and an alignment may absorb it), so the last jne stays rel8 (75 80) where
# growing every out-of-reach branch at once would have made it rel32.
.code32
.globl _start
_start:
    .fill 98, 1, 0x90
    jmp .L3
    .fill 121, 1, 0x90
    jne .L3
    jne .L2
    jmp .L2
    jmp .L2
.L3:
.L1:
.L2:
    .p2align 4,,7
    jmp .L2
    .balign 16
    jne .L3
    .fill 116, 1, 0x90
    jne .L1
    # and with .balign's max-skip and a code alignment between a forward jump and its target
    jmp .L4
    .fill 100, 1, 0x90
    .p2align 5
    .fill 20, 1, 0x90
.L4:
    ret

.code32
# an instruction keystone knows, with operands it does not take: GNU's words for why
_start:
    lea %ax, %bx
    int $1, $2
    cmc %al
    incl %al
    pushl %ax
    addw $1, %eax
    xchgq %rax, %rbx
    hlt

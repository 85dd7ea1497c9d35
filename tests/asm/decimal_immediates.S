# Plain decimals in immediates: keystone reads them as hex; GNU as as decimal.
.code16
.globl _start
_start:
    movw $42, %bx
    movw $50000, %ax
    movb $100, %al
    movb $255, %ah
    addw $1000, %cx
    subw $10, %dx
    cmpw $200, %si
    cmpb $99, %cl
    movl $100000, %eax
    pushw $1000
    push $5
    push $-1
    andw $-129, %di
    orw $128, %bp
    movw $-32768, %sp
    movw $65535, %bx
    test $12, %al
    imul $30, %ax, %dx
    shl $9, %ax
    int $33
    out %al, $96
    in $100, %al
    enter $16, $0
    ret $12
    hlt

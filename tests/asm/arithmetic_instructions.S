# Arithmetic and logic: sign-extended imm8 vs full immediates, accumulator short forms.
.code16
.globl _start
_start:
    add $1, %ax
    add $127, %ax
    add $128, %ax
    add $-128, %bx
    add $-129, %bx
    add $1, %al
    add $1, %bl
    addw $1, (%bx)
    addb $1, (%bx)
    adc %ax, %bx
    sbb $3, %cx
    sub %dx, (%si)
    and $0xff00, %ax
    and $0x0f, %cl
    or $0x80, %ax
    xor %ax, %ax
    cmp $0x7f, %al
    cmp $1000, %ax
    test $1, %al
    test $0x100, %bx
    test %ax, %bx
    inc %ax
    inc %al
    dec %di
    neg %ax
    not %bl
    mul %bl
    imul %cx
    imul %bx, %ax
    imul $10, %bx
    imul $1000, %bx, %cx
    div %cl
    idiv %bx
    shl %ax
    shl $1, %ax
    shl $4, %bx
    shr %cl, %dx
    sar $2, %si
    rol $3, %al
    ror %cl, %bl
    rcl %ax
    rcr $5, %cx
    shld $4, %ax, %bx
    shrd %cl, %ax, %bx
    cbw
    cwd
    cwtl
    cltd
    xchg %ax, %bx
    xchg %bx, %ax
    xchg %cl, %dl
    bsf %ax, %bx
    bt $3, %ax
    bts %cx, (%bx)
    setz %al
    setnae %bl
    cmovz %bx, %ax
    movzbw %al, %cx
    movsbw %al, %cx
    movzx %al, %ecx
    movsx %bl, %eax
    aaa
    daa
    lea 2(%bx), %ax
    nop
    hlt
.code32
    add $1, %eax
    add $1000, %eax
    add $1000, %ebx
    addl $1, (%eax)
    addl $1000, 4(%esp)
    sub $-1, %ecx
    imul $3, %eax, %ebx
    imul $300, %eax
    test $0xff, %eax
    and $-16, %esp
    cmpb $0, (%esi)
    hlt
.code16

# Absolute memory operands naming a label: GNU uses the 16-bit form (no 0x67, disp16).
.code16
.globl _start
_start:
    incw c
    decb c+1
    jmp *p
    call *p
    lgdt d
    lidt d
    movzwl v, %ebx
    movzbw v, %ax
    movsbl v+1, %ecx
    movw v, %ax
    movw %ax, v
    movb %al, v+1
    movl %eax, v
    addw $5, c
    cmpw $1000, c
    movw $1, c
    movb $7, c
    movl $70000, v
    pushw c
    popw c
    lesw p, %di
    movw %es:v, %ax
    movw c(%bx), %ax
    movw c(%bx,%si), %ax
    movw c+4(%di), %ax
    xchg %ax, v
    testw $0x100, v
    hlt
c:  .word 0
p:  .word _start
v:  .long 0x12345678
d:  .word 23
    .long 0

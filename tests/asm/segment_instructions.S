# Segment registers: push/pop, moves, far pointers, overrides on memory operands.
.code16
.globl _start
_start:
    push %cs
    push %ds
    push %es
    push %ss
    push %fs
    push %gs
    pop %ds
    pop %es
    pop %ss
    pop %fs
    pop %gs
    pushw %ds
    popw %es
    pushl %fs
    popl %gs
    lds (%bx), %si
    les 4(%bp), %di
    lfs (%si), %ax
    lgs ptr, %bx
    lss ptr, %sp
    movw %es:(%bx), %ax
    movw %cs:ptr, %ax
    movb %ss:-2(%bp), %al
    movw %fs:(%bx,%si), %dx
    movw %ax, %gs:8(%di)
    incw %es:ptr
    movw %ds, %ax
    movw %ax, %ss
    hlt
ptr:
    .word 0, 0
    movw %ds:0x10, %ax
    movw %ds:0x10, %bx
    movw %ds:(%bx), %ax
    movw %ss:(%bp), %ax
    movw %ss:(%bp,%si), %ax
    movw %ss:(%bx), %ax
    movw %ds:(%bp), %ax
    movw %ds:(%esp), %ax
    movw %ss:(%esp), %ax
    movw %ss:(%ebp,%eax), %ax
    movw %ss:(%eax,%ebp), %ax
    movw %ds:(%eax), %ax
    movw %ds:ptr, %ax
    movw %ss:ptr(%bp), %ax
    lodsb %ds:(%si), %al
    jmp *%ds:(%bx)
.code32
    movl %ss:(%esp), %eax
    movl %ds:(%eax), %eax
    movl %ss:4(%ebp), %eax
    movl %ds:4(%ebp), %eax
.code64
    movl %ds:(%rax), %eax
    movl %ss:(%rbp), %eax
    movl %ds:0x10, %eax
    movl %ss:(%rsp), %eax
    movl %fs:(%rax), %eax
    hlt
.code16

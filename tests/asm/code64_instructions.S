# 64-bit mode instructions (ELF32 object, so only rip-relative label references).
.code16
.globl _start
_start:
    hlt
.code64
    movq %rax, %rbx
    movq %r8, %r9
    movl %r10d, %eax
    movw %r11w, %cx
    movb %r12b, %dl
    movb %sil, %al
    addq $1, %rax
    addq $1000, %rsp
    subq $-128, %rdx
    imulq $7, %rcx, %rdx
    leaq 8(%rsp), %rbp
    leaq (%rax,%rbx,8), %rcx
    leaq -16(%r13,%r14,2), %r15
    movq 100(%rip), %rax
    movq (%rsp), %rax
    movq 8(%rbp), %rax
    movq (%r12), %rax
    movq (%r13), %rax
    pushq $1000
    pushq %r12
    popq %rbp
    call next
next:
    cmpq %rax, %rbx
    jne next
    syscall
    swapgs
    cqto
    cltq
    movslq %eax, %rbx
    movzbq %al, %rcx
    movzwl (%rsi), %eax
    xchgq %rax, %rdx
    shlq $4, %rax
    sarq %cl, %rdx
    notq %r8
    negq %r9
    incq %r10
    decl %r11d
    rep movsq
    stosq
    iretq
    retq
    lretq
    jmp *%rax
    call *(%rax)
    movq %cr3, %rax
    movq %rax, %cr3
    hlt
    movl 0x1234, %eax
    movq 0xb8000, %rbx
    incl 0x100
    movl $5, 0x2000
    movw %ds, 0x3000
    mov %ds, %rax
    mov %ds, %r8d
    movq %rax, %ds
    mov %eax, %es
    mov %fs:0x28, %rax
    jmp *0x4000
    lgdt 0x5000
    movl 1000(%rip), %eax
    leaq -8(%rip), %rax
    hlt

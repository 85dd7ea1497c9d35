# Real mode -> protected mode -> long mode, in one file: lgdt, far jumps, .code64 with
# rip-relative addressing and the mov $imm forms GNU picks for 64-bit registers.
.code16
.globl _start
_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    lgdt gdt_ptr
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmp $0x08, $pm_entry

.code32
pm_entry:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl $0x9000, %esp
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl $0x70000, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000000, %eax
    movl %eax, %cr0
    lgdt gdt_ptr
    ljmp $0x18, $lm_entry

.code64
lm_entry:
    lea msg(%rip), %rsi
    movq msg(%rip), %rax
    movl counter(%rip), %ecx
    incl counter(%rip)
    mov $1, %rax
    mov $-1, %rax
    mov $0x7fffffff, %rbx
    mov $0x80000000, %rcx
    mov $0x123456789, %rdx
    movabs $0x1122334455667788, %r8
    movq $-5, %r9
    mov $5, %eax
    mov %rax, %rdi
    push %rax
    pop %r15
    xorl %eax, %eax
    hlt
    jmp lm_entry

.data
    .balign 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
gdt_end:
gdt_ptr:
    .word gdt_end - gdt - 1
    .long gdt
counter:
    .long 0
msg:
    .asciz "long mode"

# 32-bit registers, immediates and addressing in 16-bit code (0x66/0x67 prefixes).
.code16
.globl _start
_start:
    movl $100000, %eax
    movl $1, %ebx
    addl $1000, %ecx
    addl $1, %edx
    movl %eax, %esp
    movl (%esi), %eax
    movl 8(%ebp), %eax
    movw (%eax,%ebx,4), %cx
    movb $1, (%edi)
    leal 4(%eax), %ebx
    pushl %eax
    popl %ebx
    xorl %eax, %eax
    incl %eax
    shll $2, %eax
    movzbl %al, %eax
    movl %cr0, %eax
    movl %eax, %cr0
    data32 ret
    addr32 movw (%eax), %ax
    movl var, %eax
    movl %eax, var
    jmpl *%eax
    hlt
var: .long 0

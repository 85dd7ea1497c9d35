# Plain decimal displacements and absolute addresses, 16- and 32-bit addressing.
.code16
.globl _start
_start:
    movw 100(%bx), %ax
    movw %ax, -20(%bp)
    movb 300(%si), %cl
    movw 1000(%bp,%di), %dx
    movw (%bx,%si), %ax
    addw %ax, 10(%bx,%si)
    incw 1234
    movb %al, 40000
    movl 1000(%eax,%ebx,4), %ecx
    movl %ecx, 70000(%esp)
    leaw 16(%bx,%di), %si
    leal -8(%ebp), %eax
    movw 0(%bx), %ax
    movw 127(%bx), %ax
    movw 128(%bx), %ax
    movw -128(%bx), %ax
    movw -129(%bx), %ax
    hlt

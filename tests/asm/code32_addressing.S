# 32-bit code: every addressing form (SIB, disp8/disp32, no base, %esp/%ebp quirks).
.code32
.globl _start
_start:
    movl (%eax), %ebx
    movl (%esp), %ebx
    movl (%ebp), %ebx
    movl 4(%esp), %ebx
    movl -4(%ebp), %ebx
    movl 128(%eax), %ebx
    movl -129(%ecx), %ebx
    movl (%eax,%ecx), %ebx
    movl (%eax,%ecx,2), %ebx
    movl 8(%eax,%ecx,4), %ebx
    movl 1000(%edx,%esi,8), %ebx
    movl (,%ecx,4), %ebx
    movl 16(,%ecx,8), %ebx
    movl (%ebp,%eax), %ebx
    movl (%esp,%eax), %ebx
    movl 0x12345678, %ebx
    movl var, %ebx
    movl var(%eax), %ebx
    movl var(,%eax,4), %ebx
    movl %ebx, var+4
    movw (%eax), %bx
    movb (%eax), %bl
    movl $var, %eax
    movl $var+8, var
    leal var(%ebx,%ecx,2), %eax
    movl (%bx,%si), %eax
    movw 4(%bp), %ax
    hlt
var:
    .long 0, 0, 0

# Stack instructions: push/pop forms, pusha/popa, pushf/popf, enter/leave, call/ret forms.
.code16
.globl _start
_start:
    push %ax
    push %sp
    pushw $1
    pushw $200
    pushl $70000
    pushw (%bx)
    pushw 4(%bp)
    pushl %eax
    pop %bx
    popl %ecx
    popw 2(%bx)
    pusha
    popa
    pushal
    popal
    pushf
    popf
    pushfl
    popfl
    enter $8, $0
    enter $100, $1
    leave
    call func
    call *%ax
    call *(%bx)
    callw *(%bx)
    ret
func:
    ret $4
    retw
    retl
.code32
    push %eax
    push $5
    push $500
    pushw $6
    pushl (%esp)
    pusha
    popa
    pushf
    call *%eax
    call *(%ebx)
    ret
    ret $8
    leave
    enter $16, $0
.code16

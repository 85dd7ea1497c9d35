# Direct far jumps and calls: ljmp/lcall $seg,$off, jmp/call $seg,$off, the w/l forms.
.code16
.globl _start
_start:
    ljmp $0x0000, $next
next:
    ljmp $0x10, $0x1234
    jmp $0x20, $next
    lcall $0x30, $next
    call $0x40, $0x5678
    ljmpw $0, $next
    ljmpl $8, $pm
    lcallw $0x50, $next
    lcalll $0x18, $pm
    ljmp *(%bx)
    ljmp *farptr
    lcall *farptr
    ljmpl *farptr
    lcall *4(%si)
    lret
    lretw $4
    lretl
    lret $8
farptr:
    .word next, 0
.code32
pm:
    ljmp $0x08, $pm
    ljmpw $0x10, $0x20
    lcall $0x08, $pm
    ljmp *farptr
    lret
    hlt

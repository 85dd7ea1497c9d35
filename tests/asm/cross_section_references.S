# .text referencing .rodata/.data/.bss labels as immediates and displacements; data holding
# label addresses; every section non-empty so ld's layout matters.
.code16
.globl _start
_start:
    movw $msg, %si
    movw $table, %bx
    movw $buf, %di
    movw $buf_end - buf, %cx
    movw table+2, %ax
    movw %ax, buf+10
    movb msg(%bx), %al
    movw table(%bx,%si), %dx
    incw counter
    movl $ptrs, %eax
    pushw $msg
    cmpw $buf_end, %di
    call *handlers
    call *handlers+2
    hlt
h1: ret
h2: ret
.code32
    movl $msg, %eax
    movl table, %ebx
    movl %ebx, buf
    movl ptrs(,%ecx,4), %edx
.code16
.section .rodata
    .byte 0
msg:
    .asciz "cross"
handlers:
    .word h1, h2
.data
    .byte 1
    .balign 4
table:
    .word 1, 2, 3, 4
counter:
    .word 0
ptrs:
    .long msg, table, buf, _start
    .word msg, buf_end
    .byte buf_end - buf
.bss
    .balign 16
buf:
    .space 100
buf_end:
    .skip 4

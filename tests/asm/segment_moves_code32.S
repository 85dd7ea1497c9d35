# Moves to and from segment registers: GNU never adds 0x66 to a move to a segment register.
.code32
.globl _start
_start:
    movw %ax, %ds
    movw %ax, %es
    mov %ax, %fs
    mov %bx, %gs
    movw %cx, %ss
    movl %eax, %ds
    mov %eax, %es
    mov %ds, %ax
    movw %es, %bx
    mov %ss, %eax
    movl %fs, %ecx
    movw %ds, v
    movw v, %ds
    mov %cs, v
.code16
    movw %ax, %ds
    mov %ax, %es
    movl %eax, %fs
    mov %ds, %ax
    movl %ds, %eax
    mov %ss, %ecx
    movw v, %es
    hlt
v:  .word 0
.code32

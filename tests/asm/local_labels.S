# Local numeric labels: 1:, 1b, 1f, redefined many times.
.code16
.globl _start
_start:
    movw $3, %cx
1:  dec %cx
    jnz 1b
    jmp 1f
    nop
1:  movw $1f, %ax
    movw $1b, %bx
2:  loop 2b
    jmp 2f
1:  .word 1b, 2f
2:  call 3f
    jmp 9f
3:  ret
9:  hlt

# The same label operands in 32-bit code: disp32, no prefixes.
.code32
.globl _start
_start:
    incl c
    jmp *p
    call *p
    lgdt d
    movzwl v, %ebx
    movw v, %ax
    movl %eax, v
    addl $5, c
    addl $500, c
    movl c(,%eax,4), %edx
    movl c(%ebx,%esi,2), %edx
    leal c+8, %eax
    hlt
c:  .long 0
p:  .long _start
v:  .long 0x12345678
d:  .word 23
    .long 0

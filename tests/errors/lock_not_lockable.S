.code32
_start:
    lock hlt
    lock addl $1, %eax
    lock movl %eax, (%ebx)
    lock addl $1, (%eax)
    lock xchg (%ebx), %eax
    hlt

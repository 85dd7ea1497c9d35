.code32
_start:
    addr32 movl (%eax), %eax
    data32 movl %eax, %ebx
    addr16 movl (%eax), %eax
.code64
    addr16 movl (%eax), %eax
    data32 movl %eax, %ebx
    hlt

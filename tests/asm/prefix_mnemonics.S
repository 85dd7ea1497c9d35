# Prefixes written as mnemonics or on their own line, in GNU's prefix order.
.code16
.globl _start
_start:
    es lodsb
    es
    lodsw
    rep movsw
    rep; movsb
    rep stosb
    repne scasb
    repe cmpsw
    repz cmpsb
    repnz scasw
    lock incw (%bx)
    lock; addl $1, (%bx)
    cs movw (%si), %ax
    fs movb (%di), %al
    gs
    movw (%bx), %ax
    ss lodsb
    ds movsb
    rep es movsb
    es rep movsb
    data32 movw %ax, %bx
    addr32 movb (%esi), %al
    lock xchgw %ax, (%bx)
    rep outsb
    rep insw
    movw %es:(%di), %ax
    movb %cs:4(%bx,%si), %al
    rep movsl
    lodsl
.code32
    es lodsb
    rep movsl
    rep movsw
    lock incl (%ebx)
    fs movl (%eax), %eax
    data16 movl %eax, %ebx
    addr16 movb (%si), %al
    movw %gs:(%eax), %ax
    hlt
.code16
branch_hints:
    cs jz branch_hints
    ds jnz branch_hints
    ds jmp far_target
    data32 jmp branch_hints
    data32 jmp far_target
    data32 call far_target
    .fill 200, 1, 0x90
far_target:
    hlt

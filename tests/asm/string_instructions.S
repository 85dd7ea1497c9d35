# String instructions in every width, with and without rep and segment overrides.
.code16
.globl _start
_start:
    cld
    movsb
    movsw
    movsl
    cmpsb
    cmpsw
    scasb
    scasw
    lodsb
    lodsw
    stosb
    stosw
    stosl
    insb
    outsw
    rep movsb
    rep stosw
    repe cmpsb
    repne scasw
    movsb %ds:(%si), %es:(%di)
    movsw %cs:(%si), %es:(%di)
    lodsb %es:(%si), %al
    stos %al, %es:(%di)
    scas %es:(%di), %ax
    xlat
    xlatb
.code32
    movsb
    movsl
    rep movsl
    lodsl
    stosl
    cmpsl
    movsw
    hlt
.code16

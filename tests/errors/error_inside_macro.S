.macro bad
    movq %rax, %bl
.endm
.code16
    bad

# fuzz: a macro line that was only \insn, given no value, crashed the instruction parser
.macro emit insn
    \insn
.endm
.code16
    emit
    emit hlt
    emit "movz %ax"

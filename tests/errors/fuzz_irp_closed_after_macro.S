# fuzz: a .irp opened in a macro and closed after it (GNU reads on) popped the macro
# expansion twice (IndexError); now it assembles as GNU does, and the extra .endr is the error
.macro pushall regs:vararg
    .irp r, \regs
    push \r
.endm
.code16
    pushall %ax, %bx
    .endr
    .endr
    hlt

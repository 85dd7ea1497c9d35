# The location counter `.` in data, immediates and jump targets.
.code16
.globl _start
_start:
    jmp .+2
    nop
    movw $., %ax
    movw $.-_start, %bx
    .word ., . - _start
    .byte (. - _start) & 0xff
here:
    jmp here
    jmp .
    .long . + 4
    .balign 4
    .word .-here
    hlt
second:
    jmp .+5
    movw $., %ax
    rep movsb
    movw $.-second, %bx
    es movw $., %cx
    movw .+2, %ax
    es jmp .+3
    ljmp $0, $.
    jmp .-2

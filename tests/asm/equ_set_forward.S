# .equ/.set/= with forward references, label differences and redefinition.
.code16
.globl _start
.equ COUNT, 10
.set BASE, 0x100
LIMIT = COUNT * 3 + 1
.equ FWD, later - _start
.equ MSGLEN, msg_end - msg
_start:
    movw $COUNT, %cx
    movw $BASE+COUNT, %ax
    movw $LIMIT, %dx
    movw $MSGLEN, %si
    movw $FWD, %di
    movb $SMALL, %al
    addw $SMALL, %bx
    addw $MSGLEN, %bx
    cmpw $(msg_end - msg), %cx
    movw BASE, %ax
    movw BASE+2(%bx), %ax
    movw $HERE_DIFF, %bp
.set BASE, 0x200
    movw $BASE, %ax
    BASE = BASE + 1
    movw $BASE, %ax
later:
    hlt
.equ SMALL, 5
msg:
    .ascii "hello"
msg_end:
    .word MSGLEN, FWD, COUNT
.equ HERE_DIFF, msg_end - _start
    .byte LIMIT, SMALL

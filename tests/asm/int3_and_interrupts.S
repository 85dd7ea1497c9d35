# int $3 is GNU's one-byte cc; int3, into, iret and other interrupt forms.
.code16
.globl _start
_start:
    int $3
    int3
    int $0x3
    int $4
    int $0x10
    int $0x80
    int $255
    into
    iret
    iretw
    iretl
    cli
    sti
    hlt
.code32
    int $3
    int $0x21
    iret
    hlt
.code16

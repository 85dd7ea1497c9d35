# The hypercall macro library through .include (no C preprocessor needed), all three modes.
.include "hypercall.h"
.code16
.globl _start
_start:
    hc_putchar $'A'
    hc_putnum $HC_PUTNUM
    hc_exit $3
.code32
    hc_putchar $'B'
    hc_putnum value
    hc_exit $4
.code64
    hc_putchar $'C'
    hc_newline
    hc_exit %eax
.section .rodata
value:
    .long 12345

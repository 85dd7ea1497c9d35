/* The hypercall macro library through #include, in all three modes. */
#include <hypercall.h>
#define GREETING 'K'
.code16
.globl _start
_start:
    hc_putchar $GREETING
    hc_putnum $1000
    hc_newline
    movw $text, %bx
    hc_call HC_PUTS
    ljmp $0x08, $pm
.code32
pm:
    hc_putchar $'3'
    hc_putnum %eax
    hc_putnum counter
    hc_newline
.code64
lm:
    hc_putchar %cl
    hc_putnum $64
    hc_exit $0
    hc_exit
.data
counter:
    .long 0
text:
    .asciz "hi"

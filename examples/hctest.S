# hctest.S: every hypercall of the seed's ABI, through the macro library.
# Prints "Hello!\n42\n1234\n": 11 hypercalls, then HLT = 12 VM exits.
#include <hypercall.h>

.code16
.globl _start
_start:
    hc_putchar $'H'
    hc_putchar $'e'
    hc_putchar $'l'
    hc_putchar $'l'
    hc_putchar $'o'
    hc_putchar $'!'
    hc_newline
    hc_putnum $42
    hc_newline
    hc_putnum $1234
    hc_newline
    hlt

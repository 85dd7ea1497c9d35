# hc_print puts each string constant in .rodata and prints it with one HC_PUTS.
#include <hypercall.h>
.code16
.globl _start
_start:
    hc_print "Hello, "
    hc_print "world, with a comma\n"
    hc_exit
.code32
    hc_print "32-bit"
.code64
    hc_print "64-bit\n"

# protected/sieve.S: the primes below 1,000,000 by the sieve of Eratosthenes, in 32-bit code.
# A compute-bound guest: about 14 million instructions. Prints
#   "primes below 1000000: 78498\n"
# The sieve is a byte per number at 1 MiB (guest RAM starts zeroed: 0 = maybe prime), which
# fits below the VMM's system area in the default 2 MiB. A smaller run: kasm run -D LIMIT=1000
# Where KVM emulates ring-0 code (its PVM flavour, ~1 us an instruction) the million takes ~14 s,
# past kasm run's default 10 s timeout: use --backend emu (~0.1 s), --timeout 30 or a smaller
# LIMIT there. On a host that runs guests natively it takes a few milliseconds.
# PUTS, PUTNUM, PUTS, PUTNUM, NEWLINE, EXIT = 6 VM exits.
#include <hypercall.h>

#ifndef LIMIT
#define LIMIT 1000000
#endif
.equ SIEVE, 0x100000

.code32
.globl _start
_start:
    xorl %esi, %esi             # ESI = primes found (the hypercall macros clobber EBX)
    movl $2, %ecx               # ECX = the candidate
outer:
    cmpb $0, SIEVE(%ecx)
    jne next
    incl %esi                   # ECX is prime: cross out its multiples from ECX * ECX
    movl %ecx, %eax
    mull %ecx                   # EDX:EAX = ECX * ECX
    testl %edx, %edx
    jnz next
    cmpl $LIMIT, %eax
    jae next
mark:
    movb $1, SIEVE(%eax)
    addl %ecx, %eax
    cmpl $LIMIT, %eax
    jb mark
next:
    incl %ecx
    cmpl $LIMIT, %ecx
    jb outer

    hc_puts $text_below
    hc_putnum $LIMIT
    hc_puts $text_count
    hc_putnum %esi
    hc_newline
    hc_exit

.section .rodata
text_below:
    .asciz "primes below "
text_count:
    .asciz ": "

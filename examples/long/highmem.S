# long/highmem.S: memory above 4 GiB, beyond any 32-bit pointer, in 64-bit long mode.
# Run with --mem 5G (the VMM's page tables identity-map all of RAM). Writes 512 qwords at
# 4 GiB (0x100000000), each holding its own address, reads them back, and prints with 64-bit
# PUTNUMs the first address and the sum (both > 2^32):
#   "4 GiB: 512 qwords at 4294967296, sum 2199024302080\n"
# PUTS, PUTNUM, PUTS, PUTNUM, NEWLINE, EXIT = 6 VM exits.
#include <hypercall.h>

.equ COUNT, 512

.code64
.globl _start
_start:
    movabsq $0x100000000, %r8   # R8 = 4 GiB
    movq %r8, %rdi              # write: [a] = a for each qword a
    movl $COUNT, %ecx
fill:
    movq %rdi, %rax
    stosq                       # [RDI] = RAX, RDI += 8
    loop fill

    movq %r8, %rsi              # read back: R9 = sum
    xorl %r9d, %r9d
    movl $COUNT, %ecx
sum:
    lodsq                       # RAX = [RSI], RSI += 8
    addq %rax, %r9
    loop sum

    hc_puts $text_count
    movq %r8, %rbx
    hc_call HC_PUTNUM
    hc_puts $text_sum
    movq %r9, %rbx
    hc_call HC_PUTNUM
    hc_newline
    hc_exit

.section .rodata
text_count:
    .asciz "4 GiB: 512 qwords at "
text_sum:
    .asciz ", sum "

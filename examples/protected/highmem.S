# protected/highmem.S: memory above 1 MiB, out of reach of real mode, in 32-bit protected mode.
# Run with --mem 64M. Writes the dwords 0..1023 at 16 MiB (0x1000000), reads them back, and
# prints their sum (> 65535, so a 16-bit BX could not hold it) and the last address read:
#   "16 MiB: 1024 dwords at 16777216, sum 523776, last at 16781308\n"
# PUTS, PUTNUM, PUTS, PUTNUM, PUTS, PUTNUM, NEWLINE, EXIT = 8 VM exits.
#include <hypercall.h>

.equ HIGH, 0x1000000            # 16 MiB
.equ COUNT, 1024

.code32
.globl _start
_start:
    movl $HIGH, %edi            # write: [HIGH + 4*i] = i
    xorl %eax, %eax
fill:
    stosl                       # [EDI] = EAX, EDI += 4
    incl %eax
    cmpl $COUNT, %eax
    jb fill

    movl $HIGH, %esi            # read back: EDX = sum, ESI = address
    xorl %edx, %edx
    movl $COUNT, %ecx
sum:
    addl (%esi), %edx
    addl $4, %esi
    loop sum
    movl %edx, %edi             # EDI = sum; hypercalls clobber EDX
    subl $4, %esi               # ESI = last address read

    hc_puts $text_count
    hc_putnum $HIGH
    hc_puts $text_sum
    hc_putnum %edi
    hc_puts $text_last
    hc_putnum %esi
    hc_newline
    hc_exit

.section .rodata
text_count:
    .asciz "16 MiB: 1024 dwords at "
text_sum:
    .asciz ", sum "
text_last:
    .asciz ", last at "

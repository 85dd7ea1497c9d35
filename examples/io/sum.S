# io/sum.S: read unsigned decimal numbers from stdin and print their sum (32-bit protected
# mode, wrapping at 2^32). Anything that is not a digit separates numbers; no numbers: 0.
#   echo 12 34 | kasm run examples/io/sum.S     ->  "46\n"
# Input comes from the UART, polled like a real serial port: LSR (0x3fd) bit 0 says a byte is
# waiting in RBR (0x3f8). A UART cannot tell "nothing yet" from "nothing ever", so when LSR
# says empty the guest asks HC_GETCHAR, which waits for the next byte or reports the end of
# input. Either way every input byte costs 2 VM exits, and so does the end:
# 2 * (bytes + 1) + PUTNUM + NEWLINE + EXIT; "12 34\n" -> 17 VM exits.
#include <hypercall.h>

.equ UART_RBR, 0x3f8
.equ UART_LSR, 0x3fd
.equ LSR_DATA_READY, 0x01

.code32
.globl _start
_start:
    xorl %esi, %esi             # ESI = sum
    xorl %edi, %edi             # EDI = the number being read
next_byte:
    call read_byte              # AL = byte, CF = end of input
    jc end_of_input
    subb $'0', %al
    cmpb $9, %al
    ja separator
    imull $10, %edi, %edi       # EDI = EDI * 10 + digit
    movzbl %al, %eax
    addl %eax, %edi
    jmp next_byte
separator:
    addl %edi, %esi
    xorl %edi, %edi
    jmp next_byte
end_of_input:
    addl %edi, %esi
    hc_putnum %esi
    hc_newline
    hc_exit

# read_byte: the next input byte in AL, CF clear; CF set at end of input. Clobbers EAX, EDX.
read_byte:
    movw $UART_LSR, %dx
    inb (%dx), %al
    testb $LSR_DATA_READY, %al
    jz .Lwait
    movw $UART_RBR, %dx
    inb (%dx), %al
    clc
    ret
.Lwait:
    hc_getchar .Leof            # blocks until a byte comes, or says there are no more
    clc
    ret
.Leof:
    stc
    ret

# io/echo.S: read one line from stdin and print it uppercased (real mode, 16-bit).
#   echo 'Hello, kvm!' | kasm run examples/io/echo.S     ->  "HELLO, KVM!\n"
# Like  head -n 1 | tr a-z A-Z : the line's "\n" is printed if it was read; empty input prints
# nothing. The line collects in a 256-byte buffer that is printed with one HC_WRITE (DS:BX,
# CX) whenever it fills and at the end. Each byte is one HC_GETCHAR; so is end of input.
# "Hello, kvm!\n" -> 12 GETCHAR + WRITE + EXIT = 14 VM exits; empty input -> 2.
#include <hypercall.h>

.equ BUFFER_SIZE, 256

.code16
.globl _start
_start:
    xorw %ax, %ax
    movw %ax, %ds               # HC_WRITE reads DS:BX
    movw %ax, %es
    movw $buffer, %di           # DI = where the next byte goes
read_loop:
    hc_getchar end_of_line      # AL = byte (AH = 0), or AH != 0 at end of input
    cmpb $'a', %al
    jb store
    cmpb $'z', %al
    ja store
    subb $'a' - 'A', %al
store:
    stosb                       # [ES:DI] = AL, DI++
    cmpb $'\n', %al
    je end_of_line
    cmpw $buffer + BUFFER_SIZE, %di
    jb read_loop
    call flush                  # buffer full: print it and go on
    jmp read_loop
end_of_line:
    call flush
    hc_exit

# flush: print buffer[0 .. DI) with one HC_WRITE (none if empty); DI = buffer again.
flush:
    movw %di, %cx
    subw $buffer, %cx
    jz .Lempty
    movw $buffer, %bx
    hc_call HC_WRITE
.Lempty:
    movw $buffer, %di
    ret

.bss
buffer:
    .skip BUFFER_SIZE

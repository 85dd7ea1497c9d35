# long/hello.S: 64-bit long mode (the .code64 below makes kasm boot it that way), printing a
# NUL-terminated string with one HC_PUTS hypercall and the stack pointer with HC_PUTNUM (RBX,
# 64 bits wide in long mode; the VMM puts RSP just below its tables at the top of RAM).
# Prints "Hello from 64-bit long mode!\nrsp = 2064384\n" with the default 2 MiB of RAM:
# PUTS, PUTS, PUTNUM, NEWLINE, EXIT = 5 VM exits.
#include <hypercall.h>

.code64
.globl _start
_start:
    leaq message(%rip), %rbx    # a RIP-relative pointer in RBX: no 32-bit limit
    hc_call HC_PUTS
    hc_puts $rsp_is             # a link-time address below 4 GiB also fits hc_puts' movl
    movq %rsp, %rbx
    hc_call HC_PUTNUM
    hc_newline
    hc_exit

.section .rodata
message:
    .asciz "Hello from 64-bit long mode!\n"
rsp_is:
    .asciz "rsp = "

# smp/hello.S: every vCPU says hello with its id (`kasm run --cpus 4 examples/smp/hello.S`).
# Each builds its line on its own stack (in real mode the 64 KiB below 0xfffe are split among
# the vCPUs) and prints it with one HC_WRITE, so lines from several vCPUs never mix; they come
# in whatever order the vCPUs get there. Each vCPU then halts, and the run ends when all have.
# Per vCPU: HC_CPU_ID, HC_WRITE, HLT = 3 VM exits.
#include <hypercall.h>

.code16
.globl _start
_start:
    hc_cpu_id                   # AX = this vCPU's id, BX = the number of vCPUs
    movw %ax, %si
    movw %bx, %cx
    movw %sp, %bp               # the line ends at the top of this vCPU's stack,
    subw $64, %sp               # and the stack carries on below it
    movw %bp, %di               # build the line backwards, from its end
    decw %di
    movb $10, (%di)             # "\n"
    movw %cx, %ax
    call prepend_number         # N
    movw $of, %bx
    movw $of_end - of, %cx
    call prepend_text           # " of "
    movw %si, %ax
    call prepend_number         # id
    movw $hello, %bx
    movw $hello_end - hello, %cx
    call prepend_text           # "Hello from vCPU "
    movw %bp, %cx
    subw %di, %cx               # CX = the line's length
    movw %di, %bx               # DS:BX = the line
    hc_call HC_WRITE
    hlt

# Write the decimal digits of AX just before DI, and point DI at the first one.
prepend_number:
    movw $10, %bx
1:  xorw %dx, %dx
    divw %bx                    # AX = AX / 10, DX = the digit
    addb $'0', %dl
    decw %di
    movb %dl, (%di)
    testw %ax, %ax
    jnz 1b
    ret

# Copy CX bytes from BX to just before DI, and point DI at the first one.
prepend_text:
    subw %cx, %di
    pushw %di
    pushw %si
    movw %bx, %si
    rep movsb                   # ES:DI <- DS:SI (ES = DS = 0)
    popw %si
    popw %di
    ret

.section .rodata
hello:
    .ascii "Hello from vCPU "
hello_end:
of:
    .ascii " of "
of_end:

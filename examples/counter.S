# counter.S: print the digits 0-9 on the UART. 10 OUTs + HLT = 11 VM exits.
# (The seed report's version added '0' to the counter itself and never printed "0123456789".)
.code16
.globl _start
_start:
    mov $0, %cl
print_loop:
    mov %cl, %al
    add $'0', %al           # digit -> ASCII
    mov $0x3f8, %dx
    out %al, (%dx)
    inc %cl
    cmp $10, %cl
    jl print_loop
    hlt

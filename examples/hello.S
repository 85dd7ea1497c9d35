# hello.S: print a string on the UART (port 0x3f8), one OUT per character.
# 12 characters + HLT = 13 VM exits.
.code16
.globl _start
_start:
    mov $message, %si
print_loop:
    lodsb                   # AL = [DS:SI], SI++
    test %al, %al
    jz done
    mov $0x3f8, %dx
    out %al, (%dx)
    jmp print_loop
done:
    hlt

.section .rodata
message:
    .asciz "Hello, KVM!\n"

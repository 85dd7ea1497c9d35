# protected/hello.S: 32-bit protected mode (the .code32 below makes kasm boot it that way),
# printing a string on the UART (port 0x3f8) one OUT per character, addressed through ESI.
# Prints "Hello from 32-bit protected mode!\n": 34 OUTs + HLT = 35 VM exits.
.code32
.globl _start
_start:
    movl $message, %esi
    movw $0x3f8, %dx
print_loop:
    lodsb                   # AL = [ESI], ESI++
    testb %al, %al
    jz done
    outb %al, (%dx)
    jmp print_loop
done:
    hlt

.section .rodata
message:
    .asciz "Hello from 32-bit protected mode!\n"

# A classic boot sector: .fill with a count computed from `.`, then the 0xaa55 signature.
.code16
.globl _start
_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %ss
    movw $0x7c00, %sp
    sti
    movw $msg, %si
print:
    lodsb
    orb %al, %al
    jz done
    movb $0x0e, %ah
    int $0x10
    jmp print
done:
    hlt
    jmp done
msg:
    .asciz "Booting..."
    .fill 510-(.-_start), 1, 0
    .word 0xaa55

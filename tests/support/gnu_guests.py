"""Pieces of guest source for tests that build their guests with GNU as (Intel syntax)."""

# hc FN: the hypercall with AL = FN, DX = 0x500 (the argument is already in BX/EBX/RBX)
HC = """
.macro hc fn
    mov al, \\fn
    mov dx, 0x500
    out dx, al
.endm
"""

# lock cmpxchg16b in 64-bit code, then HLT: PVM's KVM cannot emulate it (an emulation failure)
CMPXCHG16B = """
.code64
    lea rsi, [rip + data]
    lock cmpxchg16b [rsi]
    hlt
.p2align 4
data: .quad 0, 0
"""

# pic_init BASE, MASTER_MASK: both PICs initialized (IRQ0-7 at BASE, IRQ8-15 at BASE + 8), the
# slave's lines masked; pit_rate COUNT: channel 0 in mode 2, COUNT clocks of 1.193182 MHz a tick
PIC_PIT = """
.macro pic_init base, mask
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, \\base
    out 0x21, al
    mov al, \\base + 8
    out 0xa1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xa1, al
    mov al, 1
    out 0x21, al
    out 0xa1, al
    mov al, \\mask
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
.endm
.macro pit_rate count
    mov al, 0x34
    out 0x43, al
    mov ax, \\count
    out 0x40, al
    mov al, ah
    out 0x40, al
.endm
"""

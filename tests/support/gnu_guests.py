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

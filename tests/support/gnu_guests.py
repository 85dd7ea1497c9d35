"""Pieces of guest source for tests that build their guests with GNU as (Intel syntax)."""

# hc FN: the hypercall with AL = FN, DX = 0x500 (the argument is already in BX/EBX/RBX)
HC = """
.macro hc fn
    mov al, \\fn
    mov dx, 0x500
    out dx, al
.endm
"""

"""x86 exception vectors: their names, which push an error code, and what a code means."""

from __future__ import annotations

VECTOR_NAMES = {
    0: "divide error (#DE)", 1: "debug exception (#DB)", 2: "NMI", 3: "breakpoint (#BP)",
    4: "overflow (#OF)", 5: "BOUND range exceeded (#BR)", 6: "invalid opcode (#UD)",
    7: "device not available (#NM)", 8: "double fault (#DF)", 10: "invalid TSS (#TS)",
    11: "segment not present (#NP)", 12: "stack fault (#SS)",
    13: "general protection fault (#GP)", 14: "page fault (#PF)",
    16: "x87 floating-point error (#MF)", 17: "alignment check (#AC)", 18: "machine check (#MC)",
    19: "SIMD floating-point exception (#XM)", 20: "virtualization exception (#VE)",
    21: "control protection exception (#CP)",
}  # fmt: skip
ERROR_CODE_VECTORS = frozenset((8, 10, 11, 12, 13, 14, 17, 21))
SELECTOR_ERROR_VECTORS = frozenset((10, 11, 12, 13))
PF = 14


def vector_name(vector: int, software: bool = False, external: bool = False) -> str:
    if external:
        return f"external interrupt (vector {vector:#x})"
    if software and vector not in (3, 4):  # int3 and into name their exception
        return f"software interrupt int ${vector:#x}"
    return VECTOR_NAMES.get(vector, f"exception {vector}")


def error_code_text(vector: int, code: int) -> str:
    """What an exception's error code says: `error code 0x402 (IDT vector 0x80)`."""
    text = f"error code {code:#x}"
    if vector == PF:
        parts = ["protection violation" if code & 1 else "page not present",
                 "write" if code & 2 else "read"]
        if code & 0x10:
            parts.append("instruction fetch")
        return f"{text} ({', '.join(parts)})"
    if vector in SELECTOR_ERROR_VECTORS and code:
        table = "IDT" if code & 2 else "LDT" if code & 4 else "GDT"
        index = code >> 3
        what = (f"IDT vector {index:#x}" if table == "IDT"
                else f"{table} selector {code & ~3:#x}")
        return f"{text} ({what}{', external' if code & 1 else ''})"
    return text

"""String instructions written with operands (`movsb (%si), (%di)`), encoded by kasm.

Keystone crashes the process (SIGSEGV) after a few string instructions written with explicit
memory operands, so kasm encodes every such form itself, checked as GNU checks it.
"""

from __future__ import annotations

from ..diagnostics import AsmError
from ..instruction import ACCUMULATORS, Instruction
from .prefixes import SEGMENT_BYTES

# base name -> (opcode of the byte form, the operand roles it takes)
STRING_OPS = {
    "movs": (0xA4, ("si", "di")), "cmps": (0xA6, ("si", "di")), "lods": (0xAC, ("si",)),
    "stos": (0xAA, ("di",)), "scas": (0xAE, ("di",)), "ins": (0x6C, ("dx", "di")),
    "outs": (0x6E, ("si", "dx")), "xlat": (0xD7, ("bx",)),
}
_INDEX_REGS = {"si": ("%si", "%esi", "%rsi"), "di": ("%di", "%edi", "%rdi"),
               "bx": ("%bx", "%ebx", "%rbx")}


def encode_string_instruction(insn: Instruction, bits: int) -> bytes | None:
    """The encoding of a string instruction written with operands; None when `insn` is not
    one (a string mnemonic without operands is keystone's, `movsb %al, %ax` is movsx)."""
    name = insn.mnemonic
    base, suffix = name, ""
    if base not in STRING_OPS and name != "xlatb":
        base, suffix = name[:-1], name[-1]
        if base not in STRING_OPS or suffix not in "bwlq":
            return None
    if name == "xlatb":
        base, suffix = "xlat", ""
    if not insn.operands:
        return None
    opcode, roles = STRING_OPS[base]
    for op in insn.operands:
        if op.kind == "imm" or op.kind == "reg" and not (
                op.reg in ACCUMULATORS and base in ("lods", "stos", "scas")
                or op.reg == "%dx" and "dx" in roles):
            return None
    size = {"b": 8, "w": 16, "l": 32, "q": 64}.get(suffix)
    # GNU's checks on what keystone would encode regardless (`scasb *%eax`, `lodsl %al`)
    if any(op.star for op in insn.operands):
        raise AsmError(f"operand type mismatch for '{base}'", insn.loc)
    if base in ("lods", "stos", "scas") and all(op.kind == "reg" for op in insn.operands):
        what = "invalid instruction suffix" if suffix else "operand size mismatch"
        raise AsmError(f"{what} for '{base}'", insn.loc)
    for op in insn.operands:
        if size and op.kind == "reg" and ACCUMULATORS.get(op.reg, size) != size:
            raise AsmError(f"'{op.reg}' not allowed with '{name}'", insn.loc)
    segment = b""
    address_bits: int | None = None
    for op in insn.operands:
        if op.kind == "reg" and op.reg in ACCUMULATORS and base in ("lods", "stos", "scas"):
            size = size or ACCUMULATORS[op.reg]
            continue
        port = op.base == "%dx" and not op.index  # `(%dx)`
        if op.kind == "reg" and op.reg == "%dx" or port and "dx" in roles:
            continue
        reg = op.base if not op.index else ""
        role = next((r for r in roles if r != "dx" and reg in _INDEX_REGS[r]), None)
        if op.kind != "mem" or role is None or op.disp is not None:
            expected = " or ".join(f"({_INDEX_REGS[r][(bits // 32)]})" for r in roles
                                   if r != "dx")
            raise AsmError(f"'{op.text.strip()}' is not valid here for '{name}' "
                           f"(expected {expected})", insn.loc)
        reg_bits = 16 << _INDEX_REGS[role].index(reg)
        if address_bits is not None and reg_bits != address_bits:
            raise AsmError(f"'{name}': its operands use different address sizes", insn.loc)
        if bits == 64 and reg_bits == 16 or bits != 64 and reg_bits == 64:
            raise AsmError(f"'{reg}' can't address memory in {bits}-bit code", insn.loc)
        address_bits = reg_bits
        if role == "di":
            if op.segment not in ("", "%es"):
                raise AsmError(f"'{name}': the destination segment is always %es", insn.loc)
        elif op.segment and op.segment != "%ds":
            segment = bytes([SEGMENT_BYTES[op.segment]])
    if base == "xlat":
        size = 8
    if size is None:
        raise AsmError(f"'{name}' needs a size suffix (b, w, l or q): its operands don't say",
                       insn.loc)
    if size == 64 and bits != 64:
        raise AsmError(f"'{name}' needs 64-bit mode (.code64)", insn.loc)
    prefixes = bytearray(segment)
    if address_bits is not None and address_bits != bits:
        prefixes.append(0x67)
    if size in (16, 32) and size != (16 if bits == 16 else 32):
        prefixes.append(0x66)
    if size == 64:
        prefixes.append(0x48)
    return bytes(prefixes) + bytes([opcode + (size != 8 and base != "xlat")])

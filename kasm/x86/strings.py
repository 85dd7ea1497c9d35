"""String instructions written with operands (`movsb (%si), (%di)`), encoded by kasm.

Keystone crashes the process (SIGSEGV) after a few string instructions written with explicit
memory operands, so kasm encodes every such form itself, checked as GNU checks it: by
position (AT&T order: `cmps` compares `%es:(%di)` with `(%si)`), a plain register other
than the one the position implies is GNU's warning, and the bytes are the instruction's own.
"""

from __future__ import annotations

from ..diagnostics import AsmError
from ..instruction import ACCUMULATORS, REGISTER_WIDTH, Instruction, Operand
from .prefixes import SEGMENT_BYTES

# base name -> (opcode of the byte form, its operands in AT&T order: "si", "di", "bx" a memory
# operand addressed by that register, "acc" the accumulator, "dx" the I/O port)
STRING_OPS = {
    "movs": (0xA4, ("si", "di")), "cmps": (0xA6, ("di", "si")), "lods": (0xAC, ("si", "acc")),
    "stos": (0xAA, ("acc", "di")), "scas": (0xAE, ("di", "acc")), "ins": (0x6C, ("dx", "di")),
    "outs": (0x6E, ("si", "dx")), "xlat": (0xD7, ("bx",)),
}
_INDEX_REGS = {"si": ("%si", "%esi", "%rsi"), "di": ("%di", "%edi", "%rdi"),
               "bx": ("%bx", "%ebx", "%rbx")}
# Intel's names, which GNU reads without operands as the AT&T ones (with operands they are
# SSE2's movsd and cmpsd)
INTEL_NAMES = {"movsd": "movsl", "cmpsd": "cmpsl"}


def assume_att_name(insn: Instruction, warnings: list[str]) -> Instruction:
    """`movsd`/`cmpsd` without operands: movsl/cmpsl, with GNU's warning."""
    name = INTEL_NAMES[insn.mnemonic]
    warnings.append(f"found '{insn.mnemonic}'; assuming '{name}' was meant")
    return insn.replace(mnemonic=name)


def encode_string_instruction(insn: Instruction, bits: int, warnings: list[str]
                              ) -> bytes | None:
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
                op.reg in ACCUMULATORS and "acc" in roles or op.reg == "%dx" and "dx" in roles):
            return None
    size = {"b": 8, "w": 16, "l": 32, "q": 64}.get(suffix)
    # GNU's checks on what keystone would encode regardless (`scasb *%eax`, `lodsl %al`)
    if any(op.star for op in insn.operands):
        raise AsmError(f"operand type mismatch for '{base}'", insn.loc)
    if "acc" in roles and all(op.kind == "reg" for op in insn.operands):
        what = "invalid instruction suffix" if suffix else "operand size mismatch"
        raise AsmError(f"{what} for '{base}'", insn.loc)
    for op in insn.operands:
        if size and op.kind == "reg" and ACCUMULATORS.get(op.reg, size) != size:
            raise AsmError(f"'{op.reg}' not allowed with '{name}'", insn.loc)
    placed = _place(insn, base, roles)
    address_bits = _address_bits(placed, insn, bits)
    segment = b""
    wrong_segment = None  # the destination's position, if it names another segment than %es
    for position, (op, role) in enumerate(placed):
        if role == "acc":
            size = size or ACCUMULATORS[op.reg]
        if role in ("acc", "dx"):
            continue
        expected = _INDEX_REGS[role][(address_bits // 32)]
        if op.base != expected or op.index or op.disp is not None:
            if not _plain_register(op):  # GNU's answers vary (warning, error): refused
                raise AsmError(f"'{op.text.strip()}' is not valid here for '{name}' "
                               f"(expected ({expected}))", insn.loc)
            warnings.append(f"'{op.text.strip()}' is not valid here (expected '({expected})')")
        if role == "di":  # the destination: always %es
            if op.segment not in ("", "%es"):
                wrong_segment = position + 1
        elif op.segment and op.segment != "%ds":
            segment = bytes([SEGMENT_BYTES[op.segment]])
    if wrong_segment is not None:
        raise AsmError(f"'{base}' operand {wrong_segment} must use '%es' segment", insn.loc)
    if base == "xlat":
        size = 8
    if size is None:
        raise AsmError(f"'{name}' needs a size suffix (b, w, l or q): its operands don't say",
                       insn.loc)
    if size == 64 and bits != 64:
        raise AsmError(f"'{name}' needs 64-bit mode (.code64)", insn.loc)
    prefixes = bytearray(segment)
    if address_bits != bits:
        prefixes.append(0x67)
    if size in (16, 32) and size != (16 if bits == 16 else 32):
        prefixes.append(0x66)
    if size == 64:
        prefixes.append(0x48)
    return bytes(prefixes) + bytes([opcode + (size != 8 and base != "xlat")])


def _place(insn: Instruction, base: str, roles: tuple[str, ...]
           ) -> list[tuple[Operand, str]]:
    """Each operand with the role its position gives it (lods/stos/scas may omit the
    accumulator); GNU's errors for a count or a kind that does not fit."""
    ops = insn.operands
    if len(ops) == 1 and "acc" in roles:
        roles = tuple(r for r in roles if r != "acc")
    if len(ops) != len(roles):
        raise AsmError(f"number of operands mismatch for '{base}'", insn.loc)
    for op, role in zip(ops, roles, strict=True):
        port = op.kind == "reg" and op.reg == "%dx" or _is_port(op)
        fits = (op.kind == "reg" and op.reg in ACCUMULATORS if role == "acc"
                else port if role == "dx" else op.kind == "mem" and not port)
        if not fits:
            raise AsmError(f"operand size mismatch for '{base}'", insn.loc)
    return list(zip(ops, roles, strict=True))


def _is_port(op: Operand) -> bool:
    return op.kind == "mem" and op.base == "%dx" and not op.index and op.disp is None


def _plain_register(op: Operand) -> bool:
    """`(%reg)` alone: GNU warns that another register is meant, and encodes the instruction."""
    return bool(op.base) and not op.index and op.disp is None


def _address_bits(placed: list[tuple[Operand, str]], insn: Instruction, bits: int) -> int:
    """The address size: the registers' (each memory operand's the same), else the mode's."""
    address_bits: int | None = None
    for op, role in placed:
        reg = op.base or op.index
        if role in ("acc", "dx") or not reg:
            continue
        reg_bits = REGISTER_WIDTH.get(reg, 8)
        if reg_bits == 8 or reg in ("%eip", "%rip"):
            raise AsmError(f"'{op.text.strip()}' is not a valid base/index expression",
                           insn.loc)
        if bits == 64 and reg_bits == 16 or bits != 64 and reg_bits == 64:
            raise AsmError(f"'{reg}' can't address memory in {bits}-bit code", insn.loc)
        if address_bits is not None and reg_bits != address_bits:
            raise AsmError(f"'{insn.mnemonic}': its operands use different address sizes",
                           insn.loc)
        address_bits = reg_bits
    return bits if address_bits is None else address_bits

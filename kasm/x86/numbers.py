"""Constant immediates and displacements as GNU as reads them: range, truncation, and when it
keeps a full-width field that keystone would shorten to a byte."""

from __future__ import annotations

from ..instruction import REGISTER_WIDTH, Instruction

MASK = (1 << 64) - 1
SUFFIX_WIDTH = {"b": 8, "w": 16, "l": 32, "q": 64}
SHIFTS = {"rol", "ror", "rcl", "rcr", "shl", "sal", "shr", "sar"}
BIT_TESTS = {"bt", "bts", "btr", "btc"}
_IMM8_OPS = {"in", "out", "rol", "ror", "shl", "shr", "sal", "sar", "rcl", "rcr", "bt", "bts",
             "btr", "btc"}


def gnu_narrow(value: int, width: int, bits: int, immediate: bool) -> tuple[int, bool]:
    """A constant immediate or displacement of a `width`-bit field as GNU as reads it.

    Returns the value to encode (sign-extended from `width` bits) and whether GNU keeps the
    full-width form although that value fits a byte. GNU (optimize_imm/optimize_disp)
    sign-converts a value that fits 32 bits unsigned (0xffffffff is -1), outside 64-bit code
    cuts a wider one to 32 bits (sign-converting an immediate, not a displacement), then
    sign-converts it again only if it fits the field unsigned, and chooses imm8/disp8 from
    what it has then: `addw $0x1ffff, %bx` is `81 c3 ff ff` and `0x10000(%bx)` a zero
    disp16, where keystone, handed the truncated value, would pick the short form (and
    garbles fields wider than 32 bits).
    """
    if 0 <= value < (1 << 32):
        value = _signed(value, 32)
    elif bits != 64 and not -(1 << 31) <= value < 0:
        value = _signed(value, 32) if immediate else value & 0xFFFFFFFF
    mask = (1 << width) - 1
    if 0 <= value <= mask:
        value = _signed(value, width)
    short = _signed(value & mask, width)
    return short, width > 8 and short != value and -128 <= short <= 127


def _signed(value: int, width: int) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def immediate_value(value: int, insn: Instruction, bits: int, warnings: list[str]
                    ) -> tuple[int, bool]:
    """Warn, as GNU as does, when an immediate does not fit its operand; keep it in range
    so keystone encodes the truncated value GNU would. Also says whether GNU keeps the
    full-width immediate for a value that keystone would put in an imm8 (see gnu_narrow)."""
    width = operand_width(insn, bits)
    if width is None or width >= 64:
        return value, False
    lo, hi = -(1 << (width - 1)), (1 << width) - 1
    if lo <= value <= hi:
        if value > 127 and width == 8 and base_mnemonic(insn.mnemonic) in BIT_TESTS:
            return value - 256, False  # keystone takes bt's imm8 only signed
        return value, False
    short = value & ((1 << width) - 1)
    warnings.append(f"value 0x{value & MASK:x} truncated to 0x{short:x}")
    if insn.mnemonic == "push" and bits == 32 and not -(1 << 31) <= value < (1 << 32):
        # GNU's suffix-less push does not sign-convert a value it cut to 32 bits
        return short, 0x7F < short and short >= 0xFFFFFF80
    return short, gnu_narrow(value, width, bits, immediate=True)[1]


def operand_width(insn: Instruction, bits: int) -> int | None:
    """The width an immediate is encoded in: the register operand's, else the suffix's."""
    if insn.mnemonic in ("int", "enter", "ret", "lret", "retw", "retl", "lretw", "lretl"):
        return 16 if insn.mnemonic != "int" else 8
    name = insn.mnemonic
    if name in _IMM8_OPS or (name[:-1] in _IMM8_OPS and name[-1] in SUFFIX_WIDTH):
        return 8
    regs = [op.reg for op in insn.operands if op.kind == "reg" and op.reg in REGISTER_WIDTH]
    if name == "push" and bits != 64:
        return bits  # GNU pushes an immediate at the mode's size
    if regs:
        return REGISTER_WIDTH[regs[-1]]
    if insn.mnemonic[-1] in SUFFIX_WIDTH and len(insn.mnemonic) > 2:
        return SUFFIX_WIDTH[insn.mnemonic[-1]]
    return None


def base_mnemonic(name: str) -> str:
    """`name` without a size suffix, for the mnemonics whose suffix-less form kasm tests."""
    if name[-1:] in SUFFIX_WIDTH and name[:-1] in SHIFTS | BIT_TESTS:
        return name[:-1]
    return name

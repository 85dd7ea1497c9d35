"""Keystone's departures from GNU as, repaired: what kasm hands keystone instead (GNU's
choice of form or size), and the bytes it fixes afterwards. Each is measured and tested."""

from __future__ import annotations

from ..diagnostics import AsmError
from ..instruction import REGISTER_WIDTH, SEGMENT_REGISTERS, Instruction
from .keystone import Keystone
from .numbers import BIT_TESTS, SHIFTS, base_mnemonic
from .prefixes import in_gnu_order, leading_prefixes

_REG64 = {"%rax", "%rbx", "%rcx", "%rdx", "%rsi", "%rdi", "%rsp", "%rbp"} | {
    f"%r{i}" for i in range(8, 16)}
_REG16 = {"%ax", "%bx", "%cx", "%dx", "%si", "%di", "%sp", "%bp"} | {
    f"%r{i}w" for i in range(8, 16)}
_SUFFIX_OF_WIDTH = {8: "b", 16: "w", 32: "l", 64: "q"}


def gnu_mnemonic(insn: Instruction, bits: int, values: list[str | None]) -> str:
    """GNU's choice where keystone picks another form: `mov $imm32, %r64` sign-extends,
    `bt $n, mem` has the mode's size."""
    ops = insn.operands
    if insn.mnemonic in BIT_TESTS and len(ops) == 2 and ops[0].kind == "imm" \
            and ops[1].kind == "mem":
        # keystone makes `bt $n, mem` 32-bit in every mode; GNU takes the mode's size
        return insn.mnemonic + {16: "w", 32: "l", 64: "l"}[bits]
    if bits == 64 and insn.mnemonic == "mov" and len(ops) == 2 and ops[0].kind == "imm" \
            and ops[1].kind == "reg" and ops[1].reg in _REG64:
        v = values[0]
        if v is None or -(1 << 31) <= int(v, 16) < (1 << 31):
            return "movq"
    return insn.mnemonic


def keystone_bytes(ks: Keystone, bits: int, text: str, insn: Instruction, mnemonic: str
                   ) -> tuple[bytes, str | None]:
    """Keystone's encoding of `text`, else of GNU's reading of what keystone refused: a
    movzx/movsx source of unstated size is a byte, an instruction without a size suffix or
    a sizing register has the mode's size. Returns the bytes and GNU's warning, if any."""
    try:
        return ks.encode(bits, text, insn), None
    except AsmError:
        ops = insn.operands
        if mnemonic in ("movzx", "movsx") and ops and ops[0].kind == "mem" and \
                ops[-1].kind == "reg":
            size = _SUFFIX_OF_WIDTH[REGISTER_WIDTH.get(ops[-1].reg, 32)]
            retry = text.replace(mnemonic, f"mov{mnemonic[3]}b{size}", 1)
            return ks.encode(bits, retry, insn), None
        # an x87 one is sized `s` (fild: filds); not a name keystone does not know (`set` +
        # l is setl, another instruction)
        x87 = mnemonic.startswith("f")
        if mnemonic == insn.mnemonic and _needs_default_suffix(insn) and (
                x87 or ks.knows_mnemonic(mnemonic)):
            suffix = "s" if x87 else {16: "w", 32: "l", 64: "l"}[bits]
            retry = text.replace(mnemonic, mnemonic + suffix, 1)
            code = ks.encode(bits, retry, insn)
            return code, (f"no instruction size suffix given; using '{mnemonic + suffix}' "
                          f"(as GNU as does in {bits}-bit mode)")
        raise


def _needs_default_suffix(insn: Instruction) -> bool:
    """A memory operand and no register that gives the operand size (a shift's %cl count
    does not): GNU uses the mode's default size, with a warning."""
    ops = insn.operands
    sizing = [o for o in ops if o.kind == "reg"]
    if base_mnemonic(insn.mnemonic) in SHIFTS and len(ops) == 2 and ops[0].reg == "%cl":
        sizing = sizing[1:]
    return not sizing and any(o.kind == "mem" for o in ops)


def gnu_bytes(encoding: bytes, insn: Instruction, bits: int) -> bytes:
    """Keystone's encoding repaired where it departs from GNU as: `int $3` is int3,
    prefixes in GNU's order, no size prefix on segment register moves."""
    if insn.mnemonic == "int" and encoding == b"\xcd\x03":
        return b"\xcc"
    if encoding == b"\x48\x90" and insn.mnemonic in ("xchg", "xchgq"):
        return b"\x90"  # `xchg %rax, %rax`: GNU drops the needless REX.W
    encoding = in_gnu_order(encoding)
    if insn.mnemonic in ("mov", "movw", "movl", "movq") and len(insn.operands) == 2 and any(
            op.kind == "reg" and op.reg in SEGMENT_REGISTERS for op in insn.operands):
        encoding = _segment_move(encoding, insn, bits)
    return encoding


def _segment_move(encoding: bytes, insn: Instruction, bits: int) -> bytes:
    """A move to or from a segment register carries no size prefix in GNU's encoding.

    The only one GNU keeps: 0x66 when a general register destination is not the mode's
    default size (`movw %ds,%ax` in 32-bit code, `movl %ds,%eax` in 16-bit code). Keystone
    also adds 0x66 for memory operands and a move to a segment register, and REX.W for
    64-bit registers, which GNU leaves out (the upper bits are zeroed either way).
    """
    n = leading_prefixes(encoding)
    dest = insn.operands[1]
    keep_66 = dest.kind == "reg" and dest.reg not in SEGMENT_REGISTERS and (
        (bits == 16) != (dest.reg in _REG16))
    prefixes = bytes(b for b in encoding[:n] if b != 0x66 or keep_66)
    rest = encoding[n:]
    if bits == 64 and rest and 0x48 <= rest[0] <= 0x4F:
        rex = rest[0] & ~0x08
        rest = (bytes([rex]) if rex != 0x40 else b"") + rest[1:]
    return prefixes + rest

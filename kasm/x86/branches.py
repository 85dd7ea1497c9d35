"""Relative branches (jmp, jcc, call, loop, jcxz), encoded by kasm entirely, in GNU's forms.

jmp and jcc are relaxable (layout picks rel8 or rel16/32 for the distance, as GNU does);
call and loop/jcxz have one size, so their target is a plain pc-relative field.
"""

from __future__ import annotations

from ..diagnostics import AsmError, Location
from ..instruction import Instruction
from .encoding import BranchForm, Encoding, Field

JCC = {
    "jo": 0x0, "jno": 0x1, "jb": 0x2, "jc": 0x2, "jnae": 0x2, "jnb": 0x3, "jnc": 0x3,
    "jae": 0x3, "je": 0x4, "jz": 0x4, "jne": 0x5, "jnz": 0x5, "jbe": 0x6, "jna": 0x6,
    "ja": 0x7, "jnbe": 0x7, "js": 0x8, "jns": 0x9, "jp": 0xA, "jpe": 0xA, "jnp": 0xB,
    "jpo": 0xB, "jl": 0xC, "jnge": 0xC, "jge": 0xD, "jnl": 0xD, "jle": 0xE, "jng": 0xE,
    "jg": 0xF, "jnle": 0xF,
}
LOOPS = {"loop": 0xE2, "loope": 0xE1, "loopz": 0xE1, "loopne": 0xE0, "loopnz": 0xE0,
         "jcxz": 0xE3, "jecxz": 0xE3, "jrcxz": 0xE3}
_LOOP_ADDR_BITS = {"jcxz": 16, "jecxz": 32, "jrcxz": 64}
_WIDTH_SUFFIX = {"w": 16, "l": 32, "q": 64}
# A relative branch keeps only an operand-size prefix and the cs/ds branch hints; GNU's
# output_branch drops every other prefix with a warning.
_BRANCH_PREFIXES = (0x66, 0x2E, 0x3E)


def is_relative_branch(insn: Instruction) -> bool:
    """A branch to a plain address or label (`jmp *%eax`, `jmp *(%ebx)` are not)."""
    ops = insn.operands
    if len(ops) != 1 or ops[0].star or ops[0].kind != "mem":
        return False
    if ops[0].uses_registers or ops[0].segment:
        return False
    name = insn.mnemonic
    return (name in JCC or name in LOOPS or name in ("jmp", "call", "xbegin")
            or (name[:-1] in ("jmp", "call") and name[-1] in _WIDTH_SUFFIX))


def branch_form(mnemonic: str, bits: int, loc: Location) -> BranchForm | None:
    """The encoding of `mnemonic` as a relative branch, or None if it is not one."""
    name = mnemonic
    width = 32 if bits == 64 else bits
    prefix = b""
    if name == "xbegin":  # a pc-relative rel16/rel32, like call's
        return BranchForm(None, b"\xc7\xf8", 2 if bits == 16 else 4)
    if name not in JCC and name not in LOOPS and name not in ("jmp", "call"):
        if name[:-1] in ("jmp", "call") and name[-1] in _WIDTH_SUFFIX:
            want = _WIDTH_SUFFIX[name[-1]]
            name = name[:-1]
            if bits == 64:
                if want == 16:
                    raise AsmError(f"'{mnemonic}' is not supported in 64-bit mode", loc)
            elif want == 64:
                raise AsmError(f"'{mnemonic}' needs 64-bit mode (.code64)", loc)
            elif want != bits:
                prefix, width = b"\x66", want
        else:
            return None
    if name in JCC:
        cc = JCC[name]
        return BranchForm(bytes([0x70 + cc]), prefix + bytes([0x0F, 0x80 + cc]), width // 8)
    if name == "jmp":
        return BranchForm(prefix + b"\xeb", prefix + b"\xe9", width // 8)
    if name == "call":
        return BranchForm(None, prefix + b"\xe8", width // 8)
    addr_bits = _LOOP_ADDR_BITS.get(name, bits)
    if (bits == 64) != (addr_bits == 64) and name != "jecxz" or (bits == 64 and addr_bits == 16):
        raise AsmError(f"'{name}' is not valid in {bits}-bit mode", loc)
    pre = b"" if addr_bits == bits else b"\x67"
    return BranchForm(pre + bytes([LOOPS[name]]), None, 0)


def encode_branch(insn: Instruction, bits: int, pre: bytes) -> Encoding:
    """A relative branch (is_relative_branch) with the prefix bytes `pre` written before it."""
    form = branch_form(insn.mnemonic, bits, insn.loc)
    assert form is not None
    warnings: tuple[str, ...] = ()
    kept = pre
    if pre:
        keep = _BRANCH_PREFIXES
        if form.long is None:  # loop/jcxz: addr16/addr32 picks the counter (cx or ecx)
            keep += (0x67,)
        if "bnd" in insn.prefixes:
            keep += (0xF2,)
        kept = bytes(b for b in pre if b in keep)
        if kept != pre:
            warnings = (f"skipping prefixes on '{insn.mnemonic}'",)
        if 0x66 in kept and bits != 64 and form.long is not None:
            # data16/data32 flips the displacement size, as a w/l suffix would
            form = form.replace(long_width=6 - form.long_width)
    if form.short is not None and form.long is not None:
        return Encoding(kept, warnings=warnings, branch=form)
    # call and loop/jcxz have one size: fixed bytes and a pc-relative field, as GNU's
    # output_jump. Only jmp/jcc are relaxed, so only they end a fragment (which decides
    # whether a label difference across them is a constant)
    opcode, width = (form.short, 1) if form.long is None else (form.long, form.long_width)
    assert opcode is not None
    if 0x67 in kept and opcode[:1] == b"\x67":  # `addr32 jecxz`: one prefix
        opcode = opcode[1:]
    field = Field(len(kept) + len(opcode), width, 0, pcrel=True, short_branch=width == 1)
    return Encoding(kept + opcode + bytes(width), (field,), warnings)

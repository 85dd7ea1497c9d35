"""The instruction forms whose keystone encoding kasm has verified against GNU as.

A form is an instruction's shape in a mode: size prefixes, mnemonic, and for each operand its
kind and class (register class and width, immediate size class, memory operand's address
size and kind). tools/verify_forms.py assembles
each form with several representative values through kasm and GNU as and keeps the forms
whose bytes agree for all of them (verified_forms.txt, shipped beside this file). An
instruction that kasm hands keystone in a form outside the table is refused: kasm does not
know that its bytes would be GNU's.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

from ..instruction import REGISTER_WIDTH, Instruction, Operand
from .encoding import Constants
from .numbers import operand_width

TABLE = os.path.join(os.path.dirname(__file__), "verified_forms.txt")
_HIGH_BYTE = ("%ah", "%ch", "%dh", "%bh")
_NEW_BYTE = ("%spl", "%bpl", "%sil", "%dil")
# Prefixes written as mnemonics are kasm's to merge with keystone's bytes (prefixes.py), which
# never sees them; only the size prefixes change how the operands read, so only they are
# part of a form.
_SIZE_PREFIXES = ("data16", "data32", "addr16", "addr32")


def register_class(reg: str) -> str:
    """The class of a register in a form. A general register's class is its width: the
    verification's values span the accumulator (short forms), %cl and %dx (counts, ports),
    the registers that need a SIB or a displacement as a base, and %r8-%r15 (REX);
    %ah-%dh and the REX-only byte registers are classes of their own."""
    width = REGISTER_WIDTH.get(reg)
    if width is not None:
        if reg in ("%eip", "%rip", "%eiz", "%riz"):
            return reg[1:]
        if reg in _HIGH_BYTE:
            return "h8"
        if width == 8 and (reg[2:3].isdigit() or reg in _NEW_BYTE):
            return "x8"
        return f"r{width}"
    if reg[1:4] in ("xmm", "ymm", "zmm"):  # 16-31 only with EVEX: a class of their own
        return reg[1] + ("v" if int(reg[4:]) >= 16 else "")
    if reg.startswith("%st"):
        return "st"
    if reg.startswith(("%cr", "%dr", "%tr")):
        return reg[1:3]
    if reg.startswith("%mm"):
        return "mm"
    if reg.startswith("%k"):
        return "k0" if reg == "%k0" else "k"
    return reg[1:]  # a segment register


_IMMEDIATE_RANGES = (("b", -128, 127), ("B", 0, 255), ("w", -32768, 32767), ("W", 0, 65535),
                     ("l", -(1 << 31), (1 << 31) - 1), ("L", 0, (1 << 32) - 1))


def immediate_class(value: int | None, width: int | None) -> str:
    """The size class of an immediate. A symbol's (None) is that of the widest value its
    operand of `width` bits takes: kasm encodes it through such a placeholder."""
    return immediate_classes(value, width)[0]


def immediate_classes(value: int | None, width: int | None) -> list[str]:
    """Every size class that holds the immediate, the form's own first: a value in two
    classes (0 is in $b and $B) is verified when either class was."""
    if value is None:
        return ["$b" if width == 8 else "$w" if width == 16 else "$l"]
    return [f"${name}" for name, lo, hi in _IMMEDIATE_RANGES if lo <= value <= hi] or ["$q"]


def memory_class(op: Operand) -> str:
    """Address size, and what makes an address of another kind: rip/eip-relative (p), no
    base or index (a: an absolute address), a vector index (v: VSIB), %eiz/%riz (z); an
    indirect branch's `*`; `(%dx)`, a port. The verification's values span the rest: base
    alone, base and index, index alone, every scale, no/zero/8-bit/32-bit displacement,
    segment overrides."""
    regs = [r for r in (op.base, op.index) if r]
    if op.base == "%dx" and not op.index and op.disp is None and not op.segment:
        return "(dx)"  # in/out's port, written `(%dx)`
    if not regs:
        out = "ma"
    elif op.base in ("%rip", "%eip"):
        out = f"m{REGISTER_WIDTH[op.base]}p"
    else:
        out = f"m{REGISTER_WIDTH.get(op.base or '', REGISTER_WIDTH.get(op.index, 0)) or ''}"
        if op.index in ("%eiz", "%riz"):
            out += "z"
        elif op.index[1:4] in ("xmm", "ymm", "zmm"):
            out += "v"
    return out + ("*" if op.star else "")


def form_of(insn: Instruction, bits: int, constants: Constants) -> str:
    """The instruction's form: what the table is keyed by."""
    return _form(insn, bits, [choices[0] for choices in _classes(insn, bits, constants)])


def other_forms_of(insn: Instruction, bits: int, constants: Constants) -> Iterator[str]:
    """The instruction under the other size classes its immediates are also in."""
    choices = _classes(insn, bits, constants)
    if all(len(c) == 1 for c in choices):
        return
    for classes in itertools.islice(itertools.product(*choices), 1, None):
        yield _form(insn, bits, list(classes))


def _classes(insn: Instruction, bits: int, constants: Constants) -> list[list[str]]:
    classes = []
    for op in insn.operands:
        if op.kind == "reg":
            classes.append([("*" if op.star else "") + register_class(op.reg)])
        elif op.kind == "imm":
            value = None if op.disp is None else constants.value(op.disp, insn.loc)
            classes.append(immediate_classes(value, operand_width(insn, bits)))
        else:
            classes.append([memory_class(op)])
    return classes


def _form(insn: Instruction, bits: int, classes: list[str]) -> str:
    sizes = " ".join(p for p in insn.prefixes if p in _SIZE_PREFIXES)
    return f"{bits}|{sizes}|{insn.mnemonic}|{','.join(classes)}"


class VerifiedForms:
    """The table, read when first asked (a build that never reaches keystone never reads it)."""

    def __init__(self, path: str = TABLE) -> None:
        self._path = path
        self._forms: frozenset[str] | None = None

    def __contains__(self, form: str) -> bool:
        if self._forms is None:
            try:
                with open(self._path, encoding="ascii") as f:
                    self._forms = frozenset(f.read().split("\n"))
            except FileNotFoundError:
                self._forms = frozenset()
        return form in self._forms

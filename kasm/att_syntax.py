"""AT&T instruction text → Instruction: prefixes, mnemonic and operands with their parts.

Expressions are parsed here and evaluated by kasm, never by keystone (which reads plain
decimals as hex and mis-encodes label operands).
"""

from __future__ import annotations

import re

from . import expr
from .diagnostics import AsmError, Location
from .instruction import PREFIXES, PSEUDO_PREFIXES, REGISTERS, Instruction, Operand
from .lexer import split_arguments

_MNEMONIC = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[sd])?")
_REGISTER = re.compile(r"%[a-z][a-z0-9]*(?:\([0-7]\))?$", re.IGNORECASE)
# (base), (base,index), (base,index,scale), (,index...): GNU wants an index after a comma
_BASE_INDEX = re.compile(r"\(\s*(%[a-z0-9]+)?\s*(?:,\s*(%[a-z0-9]+)\s*(?:,\s*([1248]))?)?\s*\)$",
                         re.IGNORECASE)
_SEGMENT = re.compile(r"^(%[cdefgs]s)\s*:", re.IGNORECASE)
# an operand that is `$` and a plain number (decimal or hex, as expr reads them)
_IMMEDIATE_OPERAND = re.compile(r"\$(-?(?:[1-9][0-9]*|0[xX][0-9a-fA-F]+))(?=\s*(?:,|$))")
# a mnemonic and one operand that is a plain symbol or local label (a branch target)
_TARGET = re.compile(r"([A-Za-z][A-Za-z0-9]*)\s+((?!\.\Z)[A-Za-z_.][A-Za-z0-9_.$@]*|[0-9]+[bfBF])")


class InstructionReader:
    """Parses instruction statements, each distinct text once. Big programs repeat the same
    instructions (`push %ebp`), or the same but for one operand that is a plain immediate
    number (`movl $5, %eax`) or a plain label (`jne next`): such a text is made from the
    instruction parsed for an earlier one of its shape. Parsed operands never change."""

    def __init__(self) -> None:
        self._parsed: dict[str, Instruction] = {}
        # the text but for the varying operand → (an instruction of that shape, the operand's
        # index, and for an immediate the text of that operand around its number)
        self._shapes: dict[tuple[str, str], tuple[Instruction, int, str, str]] = {}

    def read(self, text: str, loc: Location) -> Instruction:
        known = self._parsed.get(text)
        if known is not None:
            return known.at(loc)
        dollar = text.find("$")
        if dollar >= 0:  # one immediate, a plain number?
            m = _IMMEDIATE_OPERAND.match(text, dollar)
            if m is None or text[dollar - 1] not in " \t," or text.find("$", dollar + 1) >= 0:
                return self._parse(text, loc)
            shape = (text[:m.start(1)], text[m.end(1):])
        else:  # one operand, a plain label?
            m = _TARGET.fullmatch(text)
            if m is None or m.group(1).lower() in PREFIXES:
                return self._parse(text, loc)
            shape = (m.group(1), "")
        known = self._shapes.get(shape)
        if known is None:
            insn = self._parse(text, loc)
            at = next(i for i, op in enumerate(insn.operands) if op.disp is not None)
            op_text = insn.operands[at].text
            head = op_text[:op_text.find("$") + 1]
            self._shapes[shape] = insn, at, head, op_text[len(op_text.rstrip()):]
            return insn
        insn, at, head, tail = known
        if dollar >= 0:
            number = m.group(1)
            return insn.with_immediate(at, Operand.plain("imm", head + number + tail,
                                                         ("num", int(number, 0))), loc)
        target = m.group(2)  # a symbol, or a local label (as expr.parse reads them)
        node = ("local", int(target[:-1]), target[-1].lower(), 0) if target[0].isdigit() \
            else ("sym", target, 0)
        return insn.with_operand(at, Operand.plain("mem", target, node), loc)

    def _parse(self, text: str, loc: Location) -> Instruction:
        insn = self._parsed[text] = parse_instruction(text, loc)
        return insn


def parse_instruction(text: str, loc: Location) -> Instruction:
    """Prefix mnemonics, the mnemonic and the operands of one statement's text."""
    words = text.split(None, 1)
    if not words:
        raise AsmError("instruction expected", loc)
    prefixes: list[str] = []
    col = 0
    while words and (words[0].lower() in PREFIXES or words[0].lower() in PSEUDO_PREFIXES) \
            and len(words) > 1:
        prefixes.append(words[0].lower())
        col = text.index(words[1], col)
        words = words[1].split(None, 1)
    mnemonic = words[0]
    if not _MNEMONIC.fullmatch(mnemonic):
        if mnemonic.lower() in PREFIXES:
            return Instruction((*prefixes, mnemonic.lower()), "", (), loc)
        if mnemonic.lower() in PSEUDO_PREFIXES:
            raise AsmError(f"'{mnemonic}' needs an instruction after it", loc)
        raise AsmError(f"invalid instruction '{mnemonic}'", loc)
    operands: list[Operand] = []
    if text.count("(") != text.count(")"):
        raise AsmError("unbalanced parentheses in operands", loc)
    if len(words) > 1:
        op_col = loc.col + text.index(words[1], col + len(mnemonic))
        for start, part in split_arguments(words[1]):
            operands.append(parse_operand(part, loc, op_col + start))
    return Instruction(tuple(prefixes), mnemonic.lower(), tuple(operands), loc)


def parse_operand(text: str, loc: Location, col: int | None = None) -> Operand:
    """One operand starting at column `col` of loc's line (loc.col if None). Columns stay
    numbers: a Location is made only for an error (there are several operands a line)."""
    raw = text
    col = (loc.col if col is None else col) + len(text) - len(text.lstrip())
    text = text.strip()
    if not text:
        raise AsmError("missing operand", loc.with_col(col))
    if "{" in text:  # named, so that the refusal says what kasm lacks
        raise AsmError(f"AVX-512 operand decoration '{text[text.index('{'):]}' (masking, "
                       "zeroing, broadcast, rounding) is not supported",
                       loc.with_col(col + text.index("{")))
    if text in REGISTERS:  # the common case, as written (lower case, no blanks)
        return Operand("reg", raw, reg=text)
    star = text.startswith("*")
    if star:
        text = text[1:].strip()
    if text.startswith("$"):
        return Operand("imm", raw, star, disp=expr.parse(text[1:], loc, col + 1 + star))
    if "%" not in text:  # an address or branch target: no register, segment or base to read
        return Operand("mem", raw, star, disp=expr.parse(text, loc, col) if text else None)
    if _REGISTER.match(text):
        reg = text.lower().replace(" ", "")
        if reg not in REGISTERS:
            raise AsmError(f"bad register name '{text}'", loc.with_col(col))
        return Operand("reg", raw, star, reg=reg)
    segment = ""
    m = _SEGMENT.match(text)
    if m:
        segment = m.group(1).lower()
        text = text[m.end():].strip()
    base = index = ""
    scale = 1
    if text.endswith(")"):
        open_at = _matching_open(text)
        inner = text[open_at:]
        if open_at >= 0 and "%" in inner:
            m_bi = _BASE_INDEX.match(inner)
            if not m_bi:
                raise AsmError(f"invalid memory operand '{raw.strip()}'", loc.with_col(col))
            for reg in m_bi.group(1, 2):
                if reg and reg.lower() not in REGISTERS:
                    raise AsmError(f"bad register name '{reg}'", loc.with_col(col))
            base, index = ((r or "").lower() for r in m_bi.group(1, 2))
            scale = int(m_bi.group(3) or 1)
            text = text[:open_at].strip()
    if "%" in text:
        raise AsmError(f"invalid operand '{raw.strip()}'", loc.with_col(col))
    node = expr.parse(text, loc, col) if text else None
    return Operand("mem", raw, star, disp=node, segment=segment, base=base, index=index,
                   scale=scale)


def _matching_open(text: str) -> int:
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            depth -= 1
            if depth == 0:
                return i
    return -1

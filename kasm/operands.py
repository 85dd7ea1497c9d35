"""AT&T instruction text → mnemonic and operands whose expressions kasm evaluates itself.

Keystone reads plain decimals as hex and mis-encodes label operands, so it never sees an
expression: every number is rendered in hex by kasm and every label is a placeholder
whose field position is found by encoding twice (see encoder.py).
"""

from __future__ import annotations

import re

from vmm.values import Record

from . import expr
from .diagnostics import AsmError, Location

_MNEMONIC = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[sd])?")
_REGISTER = re.compile(r"%[a-z][a-z0-9]*(?:\([0-7]\))?$", re.IGNORECASE)
_BASE_INDEX = re.compile(r"\(\s*(%[a-z0-9]+)?\s*(?:,\s*(%[a-z0-9]+)?\s*(?:,\s*([1248]))?)?\s*\)$",
                         re.IGNORECASE)
_SEGMENT = re.compile(r"^(%[cdefgs]s)\s*:", re.IGNORECASE)

PREFIXES = {
    "lock": 0xF0, "rep": 0xF3, "repe": 0xF3, "repz": 0xF3, "repne": 0xF2, "repnz": 0xF2,
    "cs": 0x2E, "ds": 0x3E, "es": 0x26, "fs": 0x64, "gs": 0x65, "ss": 0x36,
    "data16": -16, "data32": -32, "addr16": -116, "addr32": -132, "wait": 0x9B,
}

SEGMENT_REGISTERS = {"%cs", "%ds", "%es", "%fs", "%gs", "%ss"}

_GPR = {
    8: "al cl dl bl ah ch dh bh spl bpl sil dil " + " ".join(f"r{i}b r{i}l" for i in range(8, 16)),
    16: "ax cx dx bx sp bp si di " + " ".join(f"r{i}w" for i in range(8, 16)),
    32: "eax ecx edx ebx esp ebp esi edi eip " + " ".join(f"r{i}d" for i in range(8, 16)),
    64: "rax rcx rdx rbx rsp rbp rsi rdi rip " + " ".join(f"r{i}" for i in range(8, 16)),
}
REGISTER_WIDTH = {f"%{name}": bits for bits, names in _GPR.items() for name in names.split()}
REGISTERS = set(REGISTER_WIDTH) | SEGMENT_REGISTERS | {
    f"%{p}{i}" for p, n in (("cr", 16), ("dr", 8), ("tr", 8), ("mm", 8), ("xmm", 32),
                            ("ymm", 32), ("zmm", 32), ("k", 8)) for i in range(n)
} | {"%st"} | {f"%st({i})" for i in range(8)}


class Operand(Record):
    __slots__ = ("kind", "text", "star", "segment", "reg", "disp", "disp_text", "base_index")

    def __init__(
        self, kind: str, text: str, star: bool = False, segment: str = "", reg: str = "",
        disp: expr.Node | None = None, disp_text: str = "", base_index: str = "",
    ) -> None:  # fmt: skip
        self.kind = kind  # "reg", "imm", "mem"
        self.text = text  # as written
        self.star = star  # indirect jump/call operand
        self.segment = segment  # "%es:" override on a memory operand
        self.reg = reg  # register name for kind "reg"
        self.disp = disp  # immediate value or displacement
        self.disp_text = disp_text
        self.base_index = base_index  # "(%bx,%si)" verbatim, validated

    @property
    def is_rip_relative(self) -> bool:
        return "%rip" in self.base_index.lower()

    def segment_prefix(self) -> bytes:
        """The override byte for an explicit `%es:`-style segment, else nothing."""
        return bytes([PREFIXES[self.segment[1:3]]]) if self.segment else b""

    def render(self, value: str | None) -> str:
        """The operand for keystone with `value` (hex text) in place of the expression."""
        star = "*" if self.star else ""
        if self.kind == "reg":
            return star + self.reg
        if self.kind == "imm":
            return f"{star}${value}"
        disp = value if self.disp is not None else ""
        base_index = self.base_index
        if base_index in ("(%bp,%si)", "(%bp,%di)"):
            # keystone gives (%bp,%si) a needless zero disp8 (as if it were plain (%bp));
            # with the index named first it encodes exactly GNU's ModRM
            base_index = f"({base_index[5:8]},%bp)"
        return f"{star}{self.segment}{disp}{base_index}"


_STACK_BASES = ("%bp", "%ebp", "%esp", "%rbp", "%rsp")


def without_default_segment(op: Operand) -> Operand:
    """The operand minus a segment override that names its default segment.

    GNU emits no prefix for `%ss:(%bp)` or `%ds:(%bx)`: SS is the default with a bp/sp base,
    DS otherwise (keystone writes the redundant prefix).
    """
    if op.kind != "mem" or op.segment not in ("%ds:", "%ss:"):
        return op
    base = op.base_index[1:].split(",")[0].strip(")") if op.base_index else ""
    default = "%ss:" if base in _STACK_BASES else "%ds:"
    return op.replace(segment="") if op.segment == default else op


class Instruction(Record):
    __slots__ = ("prefixes", "mnemonic", "operands", "loc")

    def __init__(
        self, prefixes: list[str], mnemonic: str, operands: list[Operand], loc: Location
    ) -> None:
        self.prefixes, self.mnemonic, self.operands, self.loc = prefixes, mnemonic, operands, loc


def split_operands(text: str) -> list[tuple[int, str]]:
    """Split at top-level commas (not inside parentheses or character constants)."""
    parts: list[tuple[int, str]] = []
    if "(" not in text and ")" not in text and "'" not in text:  # the common case: every comma
        start = 0
        for part in text.split(","):
            parts.append((start, part))
            start += len(part) + 1
        return parts
    depth, start, i = 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "'":
            i += 3 if text[i + 1 : i + 2] == "\\" else 2
            if text[i : i + 1] == "'":
                i += 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append((start, text[start:i]))
            start = i + 1
        i += 1
    parts.append((start, text[start:]))
    return parts


def parse_instruction(text: str, loc: Location) -> Instruction:
    words = text.split(None, 1)
    if not words:
        raise AsmError("instruction expected", loc)
    prefixes: list[str] = []
    col = 0
    while words and words[0].lower() in PREFIXES and len(words) > 1:
        prefixes.append(words[0].lower())
        col = text.index(words[1], col)
        words = words[1].split(None, 1)
    mnemonic = words[0]
    if not _MNEMONIC.fullmatch(mnemonic):
        if mnemonic.lower() in PREFIXES:
            return Instruction(prefixes + [mnemonic.lower()], "", [], loc)
        raise AsmError(f"invalid instruction '{mnemonic}'", loc)
    operands: list[Operand] = []
    if text.count("(") != text.count(")"):
        raise AsmError("unbalanced parentheses in operands", loc)
    if len(words) > 1:
        op_col = loc.col + text.index(words[1], col + len(mnemonic))
        for start, part in split_operands(words[1]):
            operands.append(parse_operand(part, loc, op_col + start))
    return Instruction(prefixes, mnemonic.lower(), operands, loc)


def parse_operand(text: str, loc: Location, col: int | None = None) -> Operand:
    """One operand starting at column `col` of loc's line (loc.col if None). Columns stay
    numbers: a Location is made only for an error (there are several operands a line)."""
    raw = text
    col = (loc.col if col is None else col) + len(text) - len(text.lstrip())
    text = text.strip()
    if not text:
        raise AsmError("missing operand", loc.with_col(col))
    if text in REGISTERS:  # the common case, as written (lower case, no blanks)
        return Operand("reg", raw, reg=text)
    star = text.startswith("*")
    if star:
        text = text[1:].strip()
    if text.startswith("$"):
        node = expr.parse(text[1:], loc, col + 1 + star)
        return Operand("imm", raw, star, disp=node, disp_text=text[1:])
    if "%" not in text:  # an address or branch target: no register, segment or base to read
        return Operand("mem", raw, star, "", "", expr.parse(text, loc, col) if text else None,
                       text)
    if _REGISTER.match(text):
        reg = text.lower().replace(" ", "")
        if reg not in REGISTERS:
            raise AsmError(f"bad register name '{text}'", loc.with_col(col))
        return Operand("reg", raw, star, reg=reg)
    segment = ""
    m = _SEGMENT.match(text)
    if m:
        segment = m.group(1).lower() + ":"
        text = text[m.end() :].strip()
    base_index = ""
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
            base_index = re.sub(r"\s+", "", inner).lower()
            text = text[:open_at].strip()
    if "%" in text:
        raise AsmError(f"invalid operand '{raw.strip()}'", loc.with_col(col))
    node = expr.parse(text, loc, col) if text else None
    return Operand("mem", raw, star, segment=segment, disp=node, disp_text=text,
                   base_index=base_index)


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

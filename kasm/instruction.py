"""One parsed x86 instruction: what the parser hands the streamer and the encoder reads.

An operand keeps its parts as fields (register, displacement expression, segment, base,
index, scale, star), so no consumer reads the source text again; expressions stay unevaluated
(`expr` nodes) until the streamer knows what their symbols mean.
"""

from __future__ import annotations

from vmm.values import Record, Value

from . import expr
from .diagnostics import Location

# Prefixes written as mnemonics (`rep movsb`, `lock addl ...`, `addr32 mov ...`). The negative
# values are size prefixes whose byte depends on the mode: x86.prefixes.prefix_bytes.
PREFIXES = {
    "lock": 0xF0, "rep": 0xF3, "repe": 0xF3, "repz": 0xF3, "repne": 0xF2, "repnz": 0xF2,
    "cs": 0x2E, "ds": 0x3E, "es": 0x26, "fs": 0x64, "gs": 0x65, "ss": 0x36,
    "data16": -16, "data32": -32, "addr16": -116, "addr32": -132, "wait": 0x9B,
    "xacquire": 0xF2, "xrelease": 0xF3, "bnd": 0xF2,
}
# GNU's pseudo-prefixes (x86.pseudo says what each does, or that kasm refuses it)
PSEUDO_PREFIXES = {
    "{load}", "{store}", "{vex}", "{vex2}", "{vex3}", "{evex}", "{disp8}", "{disp16}",
    "{disp32}", "{rex}", "{nooptimize}",
}

SEGMENT_REGISTERS = {"%cs", "%ds", "%es", "%fs", "%gs", "%ss"}

_GPR = {
    8: "al cl dl bl ah ch dh bh spl bpl sil dil " + " ".join(f"r{i}b r{i}l" for i in range(8, 16)),
    16: "ax cx dx bx sp bp si di " + " ".join(f"r{i}w" for i in range(8, 16)),
    32: "eax ecx edx ebx esp ebp esi edi eip " + " ".join(f"r{i}d" for i in range(8, 16)),
    64: "rax rcx rdx rbx rsp rbp rsi rdi rip " + " ".join(f"r{i}" for i in range(8, 16)),
}
REGISTER_WIDTH = {f"%{name}": bits for bits, names in _GPR.items() for name in names.split()}
REGISTER_WIDTH.update({"%eiz": 32, "%riz": 64})  # GNU's pseudo index registers: "no index"
ACCUMULATORS = {"%al": 8, "%ax": 16, "%eax": 32, "%rax": 64}  # register → width
REGISTERS = set(REGISTER_WIDTH) | SEGMENT_REGISTERS | {
    f"%{p}{i}" for p, n in (("cr", 16), ("dr", 8), ("tr", 8), ("mm", 8), ("xmm", 32),
                            ("ymm", 32), ("zmm", 32), ("k", 8)) for i in range(n)
} | {"%st"} | {f"%st({i})" for i in range(8)}


class Operand(Value):
    """A register (`%eax`), an immediate (`$5`) or a memory operand
    (`%es:disp(base,index,scale)`; a plain `label` or number is a memory operand too)."""

    __slots__ = ("kind", "text", "star", "reg", "disp", "segment", "base", "index", "scale",
                 "literal_key")

    def __init__(
        self, kind: str, text: str, star: bool = False, reg: str = "",
        disp: expr.Node | None = None, segment: str = "", base: str = "", index: str = "",
        scale: int = 1,
    ) -> None:  # fmt: skip
        self.kind = kind  # "reg", "imm", "mem"
        self.text = text  # as written, for messages
        self.star = star  # `*`: an indirect jump or call
        self.reg = reg  # for kind "reg"
        self.disp = disp  # the immediate's value or the displacement, None when absent
        self.segment = segment  # a segment override register ("%es"), or ""
        self.base, self.index, self.scale = base, index, scale  # registers, or ""
        self.literal_key = _literal_key(self)

    @classmethod
    def plain(cls, kind: str, text: str, disp: expr.Node) -> Operand:
        """A plain immediate (`$5`) or address (`label`), as the constructor makes it but
        faster: the parser's shortcut for the operands most statements have."""
        op = object.__new__(cls)
        op.kind, op.text, op.star, op.reg, op.disp = kind, text, False, "", disp
        op.segment = op.base = op.index = ""
        op.scale = 1
        op.literal_key = None if disp[0] != "num" else IMMEDIATE if kind == "imm" else \
            _literal_key(op)
        return op

    def replace(self, **changes: object) -> Operand:
        fields = {name: getattr(self, name) for name in self.__slots__[:-1]}
        fields.update(changes)
        return Operand(**fields)  # type: ignore[arg-type]

    @property
    def uses_registers(self) -> bool:
        """A memory operand whose address is computed from a base or index register."""
        return bool(self.base or self.index)

    @property
    def rip_relative(self) -> bool:
        return self.base == "%rip"


IMMEDIATE = "$"  # the literal key of a plain immediate: its value is kept apart


def _literal_key(op: Operand) -> str | None:
    """What decides the operand's bytes when it holds no symbol (None when it does), its
    immediate value aside: the encoder remembers encodings by it. A plain register is its
    name, a plain immediate IMMEDIATE, anything else a string of all its parts."""
    disp = op.disp
    if disp is not None and disp[0] != "num":
        return None
    if not op.star:
        if op.kind == "reg":
            return op.reg
        if op.kind == "imm":
            return IMMEDIATE
    return (f"{op.kind}{'*' if op.star else ''}{op.reg}{op.segment}:{disp[1] if disp else ''}"
            f"({op.base},{op.index},{op.scale})")


class Instruction(Record):
    """Prefixes written as mnemonics, the mnemonic (lower case; "" for a lone prefix), the
    operands in AT&T order, and where the instruction starts in the source.

    `literal_key` says what decides its bytes when no operand holds a symbol (else None), for
    the encoder's memo: (the prefixes, mnemonic and operands' literal keys; the values of its
    plain immediates; whether that is one value and no other operand has a number).
    """

    __slots__ = ("prefixes", "mnemonic", "operands", "loc", "literal_key")

    def __init__(self, prefixes: tuple[str, ...], mnemonic: str,
                 operands: tuple[Operand, ...], loc: Location) -> None:
        self.prefixes, self.mnemonic, self.operands, self.loc = prefixes, mnemonic, operands, loc
        self.literal_key = _instruction_key(prefixes, mnemonic, operands)

    def at(self, loc: Location) -> Instruction:
        """The same instruction written elsewhere (its parts are shared: they never change)."""
        insn = object.__new__(Instruction)
        insn.prefixes, insn.mnemonic, insn.operands = self.prefixes, self.mnemonic, self.operands
        insn.literal_key, insn.loc = self.literal_key, loc
        return insn

    def with_operand(self, at: int, op: Operand, loc: Location) -> Instruction:
        """The instruction with operand `at` replaced, written at `loc` (the parser's
        shortcut for statements that differ in one plain operand)."""
        insn = object.__new__(Instruction)
        insn.prefixes, insn.mnemonic, insn.loc = self.prefixes, self.mnemonic, loc
        insn.operands = self.operands[:at] + (op,) + self.operands[at + 1:]
        insn.literal_key = None if op.literal_key is None else \
            _instruction_key(self.prefixes, self.mnemonic, insn.operands)
        return insn

    def with_immediate(self, at: int, op: Operand, loc: Location) -> Instruction:
        """with_operand for the instruction's one immediate, a plain number: only the value
        in its literal key changes."""
        insn = object.__new__(Instruction)
        insn.prefixes, insn.mnemonic, insn.loc = self.prefixes, self.mnemonic, loc
        insn.operands = self.operands[:at] + (op,) + self.operands[at + 1:]
        key = self.literal_key
        insn.literal_key = key if key is None else (key[0], (op.disp[1],), key[2])  # type: ignore[index]
        return insn

    def replace(self, **changes: object) -> Instruction:
        fields = {name: getattr(self, name) for name in self.__slots__[:-1]}
        fields.update(changes)
        return Instruction(**fields)  # type: ignore[arg-type]


def _instruction_key(prefixes: tuple[str, ...], mnemonic: str, operands: tuple[Operand, ...]
                     ) -> tuple | None:
    skeleton: list[object] = [prefixes, mnemonic]
    values = []
    plain = True  # no number but the immediates
    for op in operands:
        key = op.literal_key
        if key is None:
            return None
        skeleton.append(key)
        if key == IMMEDIATE:
            values.append(op.disp[1])  # type: ignore[index]
        elif op.disp is not None:
            plain = False
    return tuple(skeleton), tuple(values), plain and len(values) == 1

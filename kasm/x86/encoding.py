"""What the x86 encoder gives back, and the one thing it may ask about the program."""

from __future__ import annotations

from collections.abc import Callable

from vmm.values import Value

from .. import expr
from ..diagnostics import AsmError, Location


class Field(Value):
    """Bytes of an encoding that hold the value of operand `operand`'s expression, written
    once the streamer, layout or linker knows it. Naming the operand (not its expression)
    keeps an Encoding free of anything the program defines, so it can be remembered."""

    __slots__ = ("offset", "width", "operand", "pcrel", "signed", "short_branch")

    def __init__(
        self, offset: int, width: int, operand: int, pcrel: bool = False,
        signed: bool | None = None, short_branch: bool = False,
    ) -> None:  # fmt: skip
        self.offset, self.width, self.operand = offset, width, operand  # bytes; operand index
        self.pcrel = pcrel  # the value is relative to the end of the instruction
        self.signed = signed  # None: either signed or unsigned fits (GNU's "bitfield")
        self.short_branch = short_branch  # loop/jcxz rel8: the target must be within -128..127


class BranchForm(Value):
    """How a relative branch is encoded: short (rel8) and long forms."""

    __slots__ = ("short", "long", "long_width")

    def __init__(self, short: bytes | None, long: bytes | None, long_width: int) -> None:
        self.short = short  # opcode bytes before a rel8, None when there is no short form
        self.long = long  # opcode bytes before a rel16/rel32, None when there is no long form
        self.long_width = long_width  # 2 or 4


class Encoding(Value):
    """An instruction's bytes, its fields to fill in later, and GNU's warnings about it. A
    jmp/jcc is `branch`: `data` holds its prefixes, and layout chooses the short or long
    form for the distance to its target (operand 0)."""

    __slots__ = ("data", "fields", "warnings", "branch")

    def __init__(self, data: bytes, fields: tuple[Field, ...] = (),
                 warnings: tuple[str, ...] = (), branch: BranchForm | None = None) -> None:
        self.data, self.fields, self.warnings, self.branch = data, fields, warnings, branch


class Constants:
    """What the encoder may ask about the program: whether an operand's expression is an
    absolute constant now, and its value (None: known only later, so it becomes a Field).
    The encoder needs no more, and must not see more, of the streamer's state."""

    __slots__ = ("value",)

    def __init__(self, value: Callable[[expr.Node, Location], int | None]) -> None:
        self.value = value


class _NoSymbols(expr.Env):
    def symbol(self, name: str, loc: Location | None) -> expr.Value:
        raise expr.Unknown()


def _constant(node: expr.Node, loc: Location) -> int | None:
    try:
        value = expr.evaluate(node, _NoSymbols(), loc)
    except expr.Unknown:
        return None
    return value.const if value.is_const else None


NO_SYMBOLS = Constants(_constant)  # for a program without symbols (tests, tools)


class EncodingError(AsmError):
    """An instruction GNU refuses (or kasm cannot encode as GNU does), with the warnings
    met before the error: they are shown with it."""

    def __init__(self, message: str, loc: Location | None, warnings: tuple[str, ...]) -> None:
        super().__init__(message, loc)
        self.warnings = warnings


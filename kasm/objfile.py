"""The assembled program as the linker sees it: sections of bytes with the fields still to
fill (relocations), and symbols; no fragment, no streamer state."""

from __future__ import annotations

from vmm.values import Record, Value

from . import expr
from .contents import Contents
from .diagnostics import Location


class Relocation(Value):
    """A field the linker fills with the value of `node` (a bound expression)."""

    __slots__ = ("offset", "width", "node", "loc", "pc", "signed")

    def __init__(self, offset: int, width: int, node: expr.Node, loc: Location,
                 pc: int | None = None, signed: bool | None = None) -> None:
        self.offset, self.width = offset, width  # in the section; bytes
        self.node, self.loc = node, loc
        self.pc = pc  # pc-relative: the offset in the section the CPU counts from
        self.signed = signed  # None: either signed or unsigned fits (GNU "bitfield")


class ObjectSection(Record):
    """An input section: its bytes (or only a size, for .bss), its relocations, and its
    instructions as (offset, size, Location) in offset order."""

    __slots__ = ("name", "data", "align", "nobits", "size", "relocations", "lines")

    def __init__(
        self, name: str, data: Contents, align: int, nobits: bool, size: int,
        relocations: list[Relocation], lines: list[tuple[int, int, Location]] | None = None,
    ) -> None:  # fmt: skip
        self.name, self.data, self.align, self.nobits, self.size = name, data, align, nobits, size
        self.relocations = relocations
        self.lines = [] if lines is None else lines


class ObjectSymbol(Value):
    """A label at `offset` in section `section`, or a symbol defined by an expression."""

    __slots__ = ("name", "loc", "section", "offset", "node", "is_global")

    def __init__(self, name: str, loc: Location, section: str | None, offset: int,
                 node: expr.Node | None, is_global: bool) -> None:
        self.name, self.loc = name, loc
        self.section, self.offset = section, offset
        self.node = node
        self.is_global = is_global

    @property
    def defined(self) -> bool:
        return True


class ObjectFile(Record):
    """Everything the linker needs of an assembled program."""

    __slots__ = ("sections", "symbols", "globals", "mode_bits", "final_bits")

    def __init__(
        self, sections: list[ObjectSection], symbols: dict[str, ObjectSymbol],
        globals: dict[str, Location], mode_bits: int, final_bits: int = 32,
    ) -> None:  # fmt: skip
        self.sections, self.symbols = sections, symbols  # in source order
        self.globals = globals  # every .globl, for "never defined"
        self.mode_bits = mode_bits  # the first .code mode: the image boots in it
        self.final_bits = final_bits  # the mode at the end: ld's fill for code follows it

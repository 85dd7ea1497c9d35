"""What the streamer builds and layout reads: sections as fragments, symbols placed in them.

Like GNU as (and LLVM's MC layer), a section is a list of fragments: fixed bytes with
fixups, each optionally followed by one variable part (a relaxable branch, an alignment, a
`.space`/`.org` whose size is not known yet). Labels sit at (fragment, offset), so the
difference of two labels in one fragment is a constant while parsing, exactly when GNU as
treats it as one; that decides which encoding an instruction gets.
"""

from __future__ import annotations

from collections.abc import Hashable

from vmm.values import Record

from . import expr
from .diagnostics import AsmError, Location
from .symbols import plain_section_name
from .x86 import BranchForm

MAX_SECTION_SIZE = 1 << 30  # no guest this tool boots needs more; beyond it, a typo


def check_size(size: int, loc: Location | None) -> int:
    """Refuse a reservation no guest could need before it costs memory or time."""
    if size > MAX_SECTION_SIZE:
        raise AsmError(f"{size} bytes is too large (kasm's limit for a section is 1 GiB)", loc)
    return size


class Fixup(Record):
    """A field of a fragment whose value is only known after layout or linking."""

    __slots__ = ("offset", "width", "node", "loc", "pcrel_end", "signed", "short_branch")

    def __init__(
        self, offset: int, width: int, node: expr.Node, loc: Location,
        pcrel_end: int | None = None, signed: bool | None = None, short_branch: bool = False,
    ) -> None:  # fmt: skip
        self.offset = offset  # within the fragment's fixed bytes
        self.width = width  # bytes
        self.node, self.loc = node, loc  # node: bound (streamer.bind)
        self.pcrel_end = pcrel_end  # PC-relative: offset (in fragment) the CPU counts from
        self.signed = signed  # None: either signed or unsigned fits (GNU "bitfield")
        self.short_branch = short_branch  # loop/jcxz rel8: the target must be within -128..127


class Branch(Record):
    """A jmp/jcc whose short or long form layout chooses."""

    __slots__ = ("form", "target", "loc", "long")

    def __init__(self, form: BranchForm, target: expr.Node, loc: Location, long: bool = False
                 ) -> None:
        self.form, self.target, self.loc, self.long = form, target, loc, long

    def size(self) -> int:
        if self.long:
            assert self.form.long is not None
            return len(self.form.long) + self.form.long_width
        assert self.form.short is not None
        return len(self.form.short) + 1


class Align(Record):
    """`.align` and friends: padding layout sizes."""

    __slots__ = ("alignment", "fill", "max_skip", "code", "fill_size", "loc")

    def __init__(
        self, alignment: int, fill: int | None, max_skip: int | None, code: bool,
        fill_size: int = 1, loc: Location | None = None,
    ) -> None:  # fmt: skip
        self.alignment = alignment
        self.fill = fill  # None: NOPs in code, zeros in data
        self.max_skip, self.code, self.fill_size, self.loc = max_skip, code, fill_size, loc


class Nops(Record):
    """`.nops`: `size` bytes of NOPs (none longer than `limit`, 0: no limit), written once
    the file's final mode picks GNU's NOP table."""

    __slots__ = ("size", "limit", "loc")

    def __init__(self, size: int, limit: int, loc: Location) -> None:
        self.size, self.limit, self.loc = size, limit, loc


class Space(Record):
    """`.space`/`.fill`/`.org` whose size is known only once layout places labels."""

    __slots__ = ("count", "fill", "loc", "is_org")

    def __init__(self, count: expr.Node, fill: bytes, loc: Location, is_org: bool = False
                 ) -> None:
        self.count = count  # bytes
        self.fill = fill  # the pattern repeated over them (one byte but for a `.fill` unit)
        self.loc = loc
        self.is_org = is_org  # .org: count is the target offset


class Fragment(Record):
    """Fixed bytes with their fixups, then at most one variable part.

    Fragments parted only by a variable part of known size (a long run of zeros, kept as a
    size: contents.SPARSE_ZEROS) are one run: a label's parse-time value is its offset from
    the run's start, so differences across such a part stay constants, as in GNU as."""

    __slots__ = ("section", "index", "run", "start", "data", "fixups", "var", "address",
                 "var_size")

    def __init__(self, section: str, index: int, run: int | None = None, start: int = 0
                 ) -> None:
        self.section = section
        self.index = index  # unique id
        self.run = index if run is None else run  # the parse-time base of labels inside it
        self.start = start  # where its bytes start in the run
        self.data = bytearray()
        self.fixups: list[Fixup] = []
        self.var: Branch | Align | Space | Nops | None = None
        self.address = 0  # section-relative, set by layout
        self.var_size = 0

    @property
    def base(self) -> Hashable:
        return ("frag", self.run)


class SectionFragments(Record):
    """A section as the streamer builds it: fragments in order, and where each instruction
    starts (`lines`: fragment, offset in it, size or None for a branch layout sizes, and the
    instruction's Location), for the line table."""

    __slots__ = ("name", "frags", "align", "is_code", "nobits", "lines", "merge")

    def __init__(self, name: str, frags: list[Fragment], align: int = 1) -> None:
        self.name, self.frags, self.align = name, frags, align
        self.lines: list[tuple[Fragment, int, int | None, Location]] = []
        # fixed by the name; asked for every statement
        plain = plain_section_name(name)
        self.is_code = plain == ".text" or plain.startswith(".text.")
        self.nobits = plain == ".bss" or plain.startswith(".bss.")
        self.merge: tuple[int, bool, Location] | None = None  # M flag: (entsize, strings, where)


class SymbolDef(Record):
    """A label at (fragment, offset), or a symbol defined by an expression (`.equ`/`.set`)."""

    __slots__ = ("name", "loc", "frag", "offset", "node", "is_global", "is_set")

    def __init__(
        self, name: str, loc: Location, frag: Fragment | None = None, offset: int = 0,
        node: expr.Node | None = None, is_global: bool = False, is_set: bool = False,
    ) -> None:  # fmt: skip
        self.name, self.loc = name, loc
        self.frag, self.offset = frag, offset  # labels
        self.node = node  # .equ/.set
        self.is_global, self.is_set = is_global, is_set

    @property
    def defined(self) -> bool:
        return self.frag is not None or self.node is not None


class Assembly(Record):
    """Everything the streamer leaves for layout."""

    __slots__ = ("sections", "symbols", "globals", "final_bits", "first_code_bits", "weak")

    def __init__(
        self, sections: list[SectionFragments], symbols: dict[str, SymbolDef],
        globals: dict[str, Location], final_bits: int, first_code_bits: int | None,
        weak: frozenset[str] = frozenset(),
    ) -> None:  # fmt: skip
        self.sections, self.symbols, self.globals = sections, symbols, globals
        self.weak = weak  # .weak names: a branch to one is never relaxed (GNU)
        self.final_bits = final_bits  # the mode at the end of the file (GNU's NOP table)
        self.first_code_bits = first_code_bits  # the image's boot mode

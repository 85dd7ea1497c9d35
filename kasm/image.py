"""The linked program: what the linker produces and every output format is written from."""

from __future__ import annotations

from vmm.values import Record  # not dataclasses: a cached `kasm run` loads this at start-up
from vmm.vocabulary import BootMode

from .contents import Contents

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from .lines import LineTable


class Section(Record):
    """One output section placed at its final address; `.bss` has `size` but no `data`.
    `data` keeps long runs of zeros as sizes (given bytes, it is made Contents)."""

    __slots__ = ("name", "address", "data", "align", "nobits", "size_override")

    def __init__(
        self, name: str, address: int, data: bytes | Contents, align: int = 1,
        nobits: bool = False, size_override: int | None = None,
    ) -> None:  # fmt: skip
        self.name, self.address, self.align = name, address, align
        self.data = data if isinstance(data, Contents) else Contents(data)
        self.nobits = nobits  # .bss: occupies memory, not file bytes
        self.size_override = size_override

    @property
    def size(self) -> int:
        if self.nobits and self.size_override is not None:
            return self.size_override
        return len(self.data)

    @property
    def end(self) -> int:
        return self.address + self.size


class Symbol(Record):
    __slots__ = ("name", "value", "section", "is_global")

    def __init__(self, name: str, value: int, section: str | None, is_global: bool = False) -> None:
        self.name, self.value, self.is_global = name, value, is_global
        self.section = section  # None for absolute symbols (.equ/.set)


class Image(Record):
    """A linked guest: sections at final addresses, symbols, the entry point and boot mode,
    and the line table (kasm.lines.LineTable: each instruction's source line)."""

    __slots__ = ("base", "sections", "symbols", "entry", "mode", "lines")

    def __init__(
        self, base: int, sections: list[Section], symbols: list[Symbol] | None = None,
        entry: int = 0, mode: BootMode = BootMode.REAL, lines: LineTable | None = None,
    ) -> None:  # fmt: skip
        self.base, self.sections, self.entry, self.mode = base, sections, entry, mode
        self.symbols = [] if symbols is None else symbols
        self.lines = lines

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    @property
    def loadable(self) -> list[Section]:
        return [s for s in self.sections if not s.nobits and s.size]

    def flat(self) -> bytes:
        """The bytes from the first file-backed section to the end of the last, gaps
        zero-filled: what `objcopy -O binary` makes of the same link."""
        return bytes(self.flat_contents())

    def flat_contents(self) -> Contents:
        """`flat()` with its long runs of zeros still sizes: what `kasm build` writes."""
        out = Contents()
        parts = sorted(self.loadable, key=lambda s: s.address)
        for s in parts:
            out.append_zeros(s.address - parts[0].address - len(out))
            out.extend(s.data)
        return out

    @property
    def memory_end(self) -> int:
        """First address past everything the guest needs, `.bss` included."""
        return max((s.end for s in self.sections), default=self.base)

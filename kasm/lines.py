"""The line table: which source line each instruction of a linked image came from.

The streamer notes every instruction it emits (where in its fragment, and its Location);
layout turns that into offsets in the object file's sections, and the linker into addresses
(`LineTable.link`). The line is the one the user wrote: an instruction from a macro is
charged to the outermost invocation (as `as -g` does), one from a `#include`d or `.include`d
file to that file's line. The table is part of the Image (cached with it) and is what the
DWARF writer (kasm.dwarf), the map, traces and fault reports read.
"""

from __future__ import annotations

from vmm.values import Record

TYPE_CHECKING = False  # the cache loads this module on every warm run: no imports it can skip
if TYPE_CHECKING:
    from .diagnostics import Location


class SourceRow(Record):
    """One instruction: its address and size, and where the user wrote it."""

    __slots__ = ("address", "size", "file", "line", "col", "text")

    def __init__(self, address: int, size: int, file: str, line: int, col: int, text: str
                 ) -> None:
        self.address, self.size = address, size
        self.file, self.line, self.col, self.text = file, line, col, text


class LineTable(Record):
    """Rows in address order, as parallel lists (cheap to build, to cache and to search).

    `name` is the source the build started from; `files` are named as the user named them
    (relative names are relative to `comp_dir`, the directory the build ran in);
    `texts[file][line]` is the source line, for traces."""

    __slots__ = ("comp_dir", "name", "files", "addresses", "sizes", "file_index", "lines",
                 "cols", "texts")

    def __init__(self, comp_dir: str = "", name: str = "", files: list[str] | None = None,
                 addresses: list[int] | None = None, sizes: list[int] | None = None,
                 file_index: list[int] | None = None, lines: list[int] | None = None,
                 cols: list[int] | None = None, texts: list[dict[int, str]] | None = None
                 ) -> None:
        self.comp_dir, self.name = comp_dir, name
        self.files = files or []
        self.addresses = addresses or []
        self.sizes = sizes or []
        self.file_index = file_index or []
        self.lines = lines or []
        self.cols = cols or []
        self.texts = texts or [{} for _ in self.files]

    @classmethod
    def link(cls, comp_dir: str, name: str,
             sections: list[tuple[int, list[tuple[int, int, Location]]]]) -> LineTable:
        """The table of input sections placed at their addresses: (address, [(offset, size,
        Location)]) each, rows in offset order within a section."""
        table = cls(comp_dir, name)
        index: dict[str, int] = {}
        files, texts = table.files, table.texts
        add_address, add_size = table.addresses.append, table.sizes.append
        add_file, add_line, add_col = table.file_index.append, table.lines.append, \
            table.cols.append
        for base, rows in sorted(sections, key=lambda s: s[0]):
            for offset, size, loc in rows:
                while loc.parent is not None:  # a macro's: the invocation the user wrote
                    loc = loc.parent
                i = index.get(loc.file)
                if i is None:
                    i = index[loc.file] = len(files)
                    files.append(loc.file)
                    texts.append({})
                add_address(base + offset)
                add_size(size)
                add_file(i)
                add_line(loc.line)
                add_col(loc.col)
                texts[i].setdefault(loc.line, loc.text)
        return table

    def __len__(self) -> int:
        return len(self.addresses)

    def row(self, i: int) -> SourceRow:
        f, line = self.file_index[i], self.lines[i]
        return SourceRow(self.addresses[i], self.sizes[i], self.files[f], line, self.cols[i],
                         self.texts[f].get(line, ""))

    def rows(self) -> list[SourceRow]:
        return [self.row(i) for i in range(len(self))]

    def find(self, address: int) -> SourceRow | None:
        """The instruction that covers `address` (its first byte or any other), or None."""
        from bisect import bisect_right

        i = bisect_right(self.addresses, address) - 1
        if i < 0 or address >= self.addresses[i] + self.sizes[i]:
            return None
        return self.row(i)

    def code_end(self) -> int:
        """First address past the last instruction (0 for no code)."""
        if not self.addresses:
            return 0
        return self.addresses[-1] + self.sizes[-1]

    def to_data(self) -> tuple:
        """Plain lists and dicts for the build cache (marshal)."""
        return (self.comp_dir, self.name, self.files, self.addresses, self.sizes, self.file_index,
                self.lines, self.cols, self.texts)

    @classmethod
    def from_data(cls, data: tuple) -> LineTable:
        table = cls(*data)
        n = len(table.addresses)
        if not (len(table.sizes) == len(table.file_index) == len(table.lines)
                == len(table.cols) == n and len(table.texts) == len(table.files)
                and all(0 <= f < len(table.files) for f in table.file_index)):
            raise ValueError("a line table whose lists disagree")
        return table

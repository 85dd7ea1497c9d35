"""kasm's answers to vmm's questions about a guest program (vmm.symbolizer.Symbolizer): source
lines from the image's line table, labels from its symbols, sections from its layout.

An image built from source carries its source text in the line table; one read back from an
ELF (kasm.elfread) has only file names, and the lines are read from those files when asked.
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right

from vmm.symbolizer import SourceLine, Symbolizer

from .image import Image
from .lines import LineTable


class ImageSymbolizer(Symbolizer):
    def __init__(self, image: Image) -> None:
        self.image = image
        self._table = image.lines or LineTable()
        # labels: symbols in sections, by address (absolute .equ values are no places)
        placed = sorted((s.value, s.name) for s in image.symbols
                        if s.section is not None and not s.name.startswith(".L"))
        self._label_addresses = [a for a, _ in placed]
        self._label_names = [n for _, n in placed]
        self._files: dict[str, list[str]] = {}

    # --- vmm's questions ----------------------------------------------------------------------
    def source(self, address: int) -> SourceLine | None:
        row = self._table.find(address)
        if row is None:
            return None
        return SourceLine(row.file, row.line, row.col, row.text or self._read(row.file,
                                                                              row.line))

    def instruction_before(self, address: int) -> int | None:
        table = self._table
        i = bisect_left(table.addresses, address) - 1
        if i >= 0 and table.addresses[i] + table.sizes[i] == address:
            return table.addresses[i]
        return None

    def label(self, address: int) -> str | None:
        i = bisect_right(self._label_addresses, address) - 1
        if i < 0:
            return None
        section = self.section(address)
        start = self._label_addresses[i]
        if section is None or self.section(start) != section:
            return None
        offset = address - start
        return self._label_names[i] + (f"+{offset:#x}" if offset else "")

    def section(self, address: int) -> str | None:
        for s in self.image.sections:
            if s.address <= address < s.end:
                return s.name
        return None

    def last_instruction(self) -> int | None:
        addresses = self._table.addresses
        return addresses[-1] if addresses else None

    # --- kasm's own ---------------------------------------------------------------------------
    def address_of(self, name: str) -> int | None:
        """A symbol's value (labels and .equ constants alike)."""
        return next((s.value for s in self.image.symbols if s.name == name), None)

    def extent(self, name: str) -> tuple[int, int] | None:
        """[label, next label in its section or the section's end)."""
        start = self.address_of(name)
        if start is None:
            return None
        section = next((s for s in self.image.sections if s.address <= start < s.end), None)
        end = section.end if section is not None else start + 1
        i = bisect_right(self._label_addresses, start)
        if i < len(self._label_addresses) and self._label_addresses[i] < end:
            end = self._label_addresses[i]
        return start, end

    def _read(self, file: str, line: int) -> str:
        """A line of a source named in DWARF (relative to the compilation directory)."""
        lines = self._files.get(file)
        if lines is None:
            from .lexer import read_source

            lines = []
            for path in (os.path.join(self._table.comp_dir, file), file):
                try:
                    lines = read_source(path).splitlines()
                    break
                except (OSError, ValueError):
                    continue
            self._files[file] = lines
        return lines[line - 1] if 0 < line <= len(lines) else ""

"""A small DWARF reader: the line table (`.debug_line`, versions 2 to 5) and the first compile
unit's name and directory, which is what `kasm disasm` shows of an ELF's debug information.

Every unit of `.debug_line` is decoded; rows become a kasm.lines.LineTable whose sizes run
from one row to the next (to the end of its sequence for the last). Anything malformed raises
DwarfError instead of reading past the data.
"""

from __future__ import annotations

import os
import struct

from .lines import LineTable

DW_FORM_ADDR, DW_FORM_DATA2, DW_FORM_DATA4, DW_FORM_DATA8, DW_FORM_STRING = 1, 5, 6, 7, 8
DW_FORM_BLOCK, DW_FORM_BLOCK1, DW_FORM_DATA1, DW_FORM_FLAG = 9, 0x0A, 0x0B, 0x0C
DW_FORM_SDATA = 0x0D
DW_FORM_STRP, DW_FORM_UDATA, DW_FORM_SEC_OFFSET, DW_FORM_FLAG_PRESENT = 0x0E, 0x0F, 0x17, 0x19
DW_FORM_DATA16, DW_FORM_LINE_STRP = 0x1E, 0x1F
DW_LNCT_PATH, DW_LNCT_DIRECTORY_INDEX = 1, 2
DW_AT_NAME, DW_AT_COMP_DIR = 0x03, 0x1B


class DwarfError(Exception):
    pass


class _Reader:
    """Little-endian fields from one buffer, bounds-checked."""

    def __init__(self, data: bytes, at: int = 0, end: int | None = None) -> None:
        self.data, self.at = data, at
        self.end = len(data) if end is None else min(end, len(data))

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > self.end:
            raise DwarfError("debug information runs past its section")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def u(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def s8(self) -> int:
        return struct.unpack("<b", self.take(1))[0]

    def _leb(self) -> tuple[int, int, int]:
        """(value, bits read, last byte) of a LEB128 number."""
        value = shift = 0
        while True:
            byte = self.u(1)
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value, shift, byte

    def uleb(self) -> int:
        return self._leb()[0]

    def sleb(self) -> int:
        value, shift, last = self._leb()
        return value - (1 << shift) if last & 0x40 else value

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.at, self.end)
        if end < 0:
            raise DwarfError("an unterminated string in debug information")
        text = self.data[self.at:end].decode("utf-8", "surrogateescape")
        self.at = end + 1
        return text

    @property
    def done(self) -> bool:
        return self.at >= self.end


def _string_at(section: bytes, offset: int) -> str:
    return _Reader(section, offset).cstring()


def _form(r: _Reader, form: int, word: int, offset_size: int,
          strings: dict[str, bytes]) -> int | str | None:
    """One attribute value; strings resolved, other blocks skipped (None)."""
    fixed = {DW_FORM_DATA1: 1, DW_FORM_DATA2: 2, DW_FORM_DATA4: 4, DW_FORM_DATA8: 8,
             DW_FORM_FLAG: 1, DW_FORM_ADDR: word, DW_FORM_SEC_OFFSET: offset_size}
    if form in fixed:
        return r.u(fixed[form])
    if form == DW_FORM_STRING:
        return r.cstring()
    if form in (DW_FORM_STRP, DW_FORM_LINE_STRP):
        section = strings.get(".debug_str" if form == DW_FORM_STRP else ".debug_line_str", b"")
        return _string_at(section, r.u(offset_size))
    if form == DW_FORM_UDATA:
        return r.uleb()
    if form == DW_FORM_SDATA:
        return r.sleb()
    if form == DW_FORM_DATA16:
        r.take(16)
        return None
    if form in (DW_FORM_BLOCK, DW_FORM_BLOCK1):
        r.take(r.uleb() if form == DW_FORM_BLOCK else r.u(1))
        return None
    if form == DW_FORM_FLAG_PRESENT:
        return 1
    raise DwarfError(f"DWARF form {form:#x} is not supported")


def compile_unit_names(sections: dict[str, bytes]) -> tuple[str, str]:
    """(DW_AT_name, DW_AT_comp_dir) of the first compile unit, "" where absent."""
    info, abbrev = sections.get(".debug_info", b""), sections.get(".debug_abbrev", b"")
    if not info:
        return "", ""
    r = _Reader(info)
    length, offset_size = r.u(4), 4
    if length == 0xFFFF_FFFF:
        length, offset_size = r.u(8), 8
    version = r.u(2)
    if version >= 5:
        r.u(1)  # unit type
        word, abbrev_offset = r.u(1), r.u(offset_size)
    else:
        abbrev_offset, word = r.u(offset_size), r.u(1)
    code = r.uleb()
    a = _Reader(abbrev, abbrev_offset)
    while True:  # find the abbreviation with this code
        found, _tag, _children = a.uleb(), a.uleb(), a.u(1)
        specs = []
        while True:
            attribute, form = a.uleb(), a.uleb()
            if not attribute and not form:
                break
            if form == 0x21:  # DW_FORM_implicit_const carries its value here
                a.sleb()
            specs.append((attribute, form))
        if found == code or not found:
            break
    values: dict[int, int | str | None] = {}
    for attribute, form in specs:
        values[attribute] = None if form == 0x21 else _form(r, form, word, offset_size,
                                                             sections)
    name, comp_dir = values.get(DW_AT_NAME), values.get(DW_AT_COMP_DIR)
    return (name if isinstance(name, str) else "", comp_dir if isinstance(comp_dir, str)
            else "")


def read_line_table(sections: dict[str, bytes], word: int) -> LineTable:
    """Every row of `.debug_line` as one LineTable (sources not read: `texts` stay empty)."""
    try:
        name, comp_dir = compile_unit_names(sections)
    except DwarfError:
        name, comp_dir = "", ""
    table = LineTable(comp_dir, name)
    rows: list[tuple[int, int, int, int, int]] = []  # address, size, file index, line, col
    data = sections[".debug_line"]
    at = 0
    while at < len(data):
        at = _unit(data, at, word, sections, table, rows)
    rows.sort(key=lambda row: row[0])
    for address, size, file, line, col in rows:
        table.addresses.append(address)
        table.sizes.append(size)
        table.file_index.append(file)
        table.lines.append(line)
        table.cols.append(col)
    table.texts = [{} for _ in table.files]
    return table


def _entries(r: _Reader, word: int, offset_size: int, sections: dict[str, bytes]
             ) -> list[dict[int, int | str | None]]:
    """A version 5 directory or file name table: its format, then its entries."""
    formats = [(r.uleb(), r.uleb()) for _ in range(r.u(1))]
    return [{kind: _form(r, form, word, offset_size, sections) for kind, form in formats}
            for _ in range(r.uleb())]


def _unit(data: bytes, at: int, word: int, sections: dict[str, bytes], table: LineTable,
          rows: list[tuple[int, int, int, int, int]]) -> int:
    """Decode one line-number program unit at `at`; returns where the next one starts."""
    r = _Reader(data, at)
    length, offset_size = r.u(4), 4
    if length == 0xFFFF_FFFF:
        length, offset_size = r.u(8), 8
    end = r.at + length
    r.end = min(end, len(data))
    version = r.u(2)
    if not 2 <= version <= 5:
        raise DwarfError(f".debug_line version {version} is not supported")
    if version >= 5:
        word = r.u(1)
        r.u(1)  # segment selector size
    header_length = r.u(offset_size)
    program = r.at + header_length
    min_length = r.u(1)
    max_ops = r.u(1) if version >= 4 else 1
    r.u(1)  # default_is_stmt
    line_base, line_range, opcode_base = r.s8(), r.u(1), r.u(1)
    if not line_range or not max_ops:
        raise DwarfError("a .debug_line header with a zero line range")
    lengths = [0, *r.take(opcode_base - 1)] if opcode_base else [0]
    files = _file_names(r, version, word, offset_size, sections)
    index = {number: _file_index(table, path) for number, path in files.items()}
    r.at = program
    state = _State()
    while not r.done:
        opcode = r.u(1)
        if opcode >= opcode_base:
            adjusted = opcode - opcode_base
            state.address += (adjusted // line_range) * min_length
            state.line += line_base + adjusted % line_range
            state.emit(rows, index)
        elif opcode == 0:
            size = r.uleb()
            sub_end = r.at + size
            sub = r.u(1) if size else 0
            if sub == 1:
                state.emit(rows, index, end=True)
                state = _State()
            elif sub == 2:
                state.address = r.u(sub_end - r.at)
            r.at = sub_end
        elif opcode == 1:
            state.emit(rows, index)
        elif opcode == 2:
            state.address += r.uleb() * min_length
        elif opcode == 3:
            state.line += r.sleb()
        elif opcode == 4:
            state.file = r.uleb()
        elif opcode == 5:
            state.col = r.uleb()
        elif opcode == 8:
            state.address += ((255 - opcode_base) // line_range) * min_length
        elif opcode == 9:
            state.address += r.u(2)
        else:
            for _ in range(lengths[opcode] if opcode < len(lengths) else 0):
                r.uleb()
    state.emit(rows, index, end=True)
    return end


def _file_names(r: _Reader, version: int, word: int, offset_size: int,
                sections: dict[str, bytes]) -> dict[int, str]:
    """File register value -> path (with its directory), per the version's numbering."""
    if version >= 5:
        directories = [e.get(DW_LNCT_PATH) for e in _entries(r, word, offset_size, sections)]
        files = {}
        for i, e in enumerate(_entries(r, word, offset_size, sections)):
            d = e.get(DW_LNCT_DIRECTORY_INDEX, 0)
            directory = directories[d] if isinstance(d, int) and d < len(directories) else ""
            files[i] = _join(directory if i and d else "", e.get(DW_LNCT_PATH))
        return files
    directories = [""]
    while True:
        text = r.cstring()
        if not text:
            break
        directories.append(text)
    files = {}
    while True:
        name = r.cstring()
        if not name:
            return files
        d = r.uleb()
        r.uleb()  # modification time
        r.uleb()  # length
        files[len(files) + 1] = _join(directories[d] if d < len(directories) else "", name)


def _join(directory: object, name: object) -> str:
    name = name if isinstance(name, str) else "?"
    return os.path.join(directory, name) if isinstance(directory, str) and directory else name


def _file_index(table: LineTable, name: str) -> int:
    if name not in table.files:
        table.files.append(name)
    return table.files.index(name)


class _State:
    """The line-number state machine's registers that kasm keeps."""

    __slots__ = ("address", "file", "line", "col", "pending")

    def __init__(self) -> None:
        self.address, self.file, self.line, self.col = 0, 1, 1, 0
        self.pending: list[int] | None = None  # the last row, whose size the next one fixes

    def emit(self, rows: list[tuple[int, int, int, int, int]], index: dict[int, int],
             end: bool = False) -> None:
        if self.pending is not None:
            address, file, line, col = self.pending
            if self.address > address:
                rows.append((address, self.address - address, file, line, col))
            self.pending = None
        if not end and self.file in index:
            self.pending = [self.address, index[self.file], self.line, self.col]

"""DWARF line information for an image, as `as -g` gives it: `.debug_line` (version 4), one
compile unit in `.debug_info` with its `.debug_abbrev`, and `.debug_aranges`.

That is all addr2line, `objdump -l` and gdb (`info line`, `list *ADDR`, `break file.S:12`)
need to map an address to the line the user wrote. One row per change of file, line or column
(an instruction from a macro shares its invocation's row, as with GNU as); one sequence per
section with code. Same table, same bytes.
"""

from __future__ import annotations

import os
import struct

from .image import Image
from .lines import LineTable

LINE_BASE, LINE_RANGE, OPCODE_BASE = -5, 14, 13  # GNU as's choices
STANDARD_OPCODE_LENGTHS = bytes((0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1))
DW_LNS_COPY, DW_LNS_ADVANCE_PC, DW_LNS_ADVANCE_LINE, DW_LNS_SET_FILE = 1, 2, 3, 4
DW_LNS_SET_COLUMN = 5
DW_LNE_END_SEQUENCE, DW_LNE_SET_ADDRESS = 1, 2
DW_TAG_COMPILE_UNIT = 0x11
DW_AT_NAME, DW_AT_STMT_LIST, DW_AT_LOW_PC, DW_AT_HIGH_PC = 0x03, 0x10, 0x11, 0x12
DW_AT_LANGUAGE, DW_AT_COMP_DIR, DW_AT_PRODUCER = 0x13, 0x1B, 0x25
DW_FORM_ADDR, DW_FORM_DATA2, DW_FORM_DATA4, DW_FORM_STRING, DW_FORM_SEC_OFFSET = (
    0x01, 0x05, 0x06, 0x08, 0x17)
DW_LANG_MIPS_ASSEMBLER = 0x8001  # what GNU as calls assembler source
PRODUCER = "kasm"


def uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


def _cstring(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape") + b"\0"


def debug_sections(image: Image) -> list[tuple[str, bytes]]:
    """The `.debug_*` sections for kasm.elf.write_elf, or none for an image without lines."""
    table = image.lines
    if table is None or not len(table):
        return []
    word = 8 if image.mode.bits == 64 else 4
    sequences = _sequences(image, table)
    low = min(start for start, _, _ in sequences)
    high = max(end for _, end, _ in sequences)
    return [
        (".debug_line", _line_program(table, sequences, word)),
        (".debug_info", _compile_unit(table, low, high, word)),
        (".debug_abbrev", _abbreviations()),
        (".debug_aranges", _aranges(sequences, word)),
    ]


def _sequences(image: Image, table: LineTable) -> list[tuple[int, int, range]]:
    """(start, end, row indices) for each section that holds instructions."""
    out = []
    addresses = table.addresses
    i, n = 0, len(addresses)
    for section in sorted(image.sections, key=lambda s: s.address):
        first = i
        while i < n and addresses[i] < section.end:
            i += 1
        if i > first:
            out.append((addresses[first], addresses[i - 1] + table.sizes[i - 1],
                        range(first, i)))
    return out


def _header_tables(table: LineTable) -> tuple[bytes, bytes]:
    """(include_directories, file_names) of a version 4 header: a name's directory part goes
    in the directory table, as GNU as writes it (0 is the compilation directory)."""
    directories: list[str] = []
    files = bytearray()
    for name in table.files:
        head, tail = os.path.split(name)
        if head and head not in directories:
            directories.append(head)
        index = directories.index(head) + 1 if head else 0
        files += _cstring(tail or name) + uleb(index) + uleb(0) + uleb(0)
    return b"".join(_cstring(d) for d in directories) + b"\0", bytes(files) + b"\0"


def _line_program(table: LineTable, sequences: list[tuple[int, int, range]], word: int
                  ) -> bytes:
    program = bytearray()
    addresses, lines, cols, files = table.addresses, table.lines, table.cols, table.file_index
    address_op = bytes((0, 1 + word, DW_LNE_SET_ADDRESS))
    for start, end, rows in sequences:
        program += address_op + start.to_bytes(word, "little")
        address, line, col, file = start, 1, 0, 0  # file register 1 is files[0]
        previous = None
        for i in rows:
            here = (files[i], lines[i], cols[i])
            if here == previous:
                continue  # another instruction of the same line (a macro's)
            previous = here
            if files[i] != file:
                file = files[i]
                program += bytes((DW_LNS_SET_FILE,)) + uleb(file + 1)
            if cols[i] != col:
                col = cols[i]
                program += bytes((DW_LNS_SET_COLUMN,)) + uleb(col)
            program += _advance(addresses[i] - address, lines[i] - line)
            address, line = addresses[i], lines[i]
        if end > address:
            program += bytes((DW_LNS_ADVANCE_PC,)) + uleb(end - address)
        program += bytes((0, 1, DW_LNE_END_SEQUENCE))
    directories, file_names = _header_tables(table)
    header = (bytes((1, 1, 1, LINE_BASE & 0xFF, LINE_RANGE, OPCODE_BASE))
              + STANDARD_OPCODE_LENGTHS + directories + file_names)
    unit = struct.pack("<HI", 4, len(header)) + header + bytes(program)
    return struct.pack("<I", len(unit)) + unit


def _advance(address_delta: int, line_delta: int) -> bytes:
    """A special opcode when one fits, else advance_line / advance_pc and copy."""
    if LINE_BASE <= line_delta < LINE_BASE + LINE_RANGE:
        opcode = line_delta - LINE_BASE + LINE_RANGE * address_delta + OPCODE_BASE
        if opcode <= 255:
            return bytes((opcode,))
    out = bytearray()
    if line_delta:
        out += bytes((DW_LNS_ADVANCE_LINE,)) + sleb(line_delta)
    if address_delta:
        out += bytes((DW_LNS_ADVANCE_PC,)) + uleb(address_delta)
    return bytes(out) + bytes((DW_LNS_COPY,))


_ATTRIBUTES = ((DW_AT_STMT_LIST, DW_FORM_SEC_OFFSET), (DW_AT_LOW_PC, DW_FORM_ADDR),
               (DW_AT_HIGH_PC, DW_FORM_DATA4), (DW_AT_NAME, DW_FORM_STRING),
               (DW_AT_COMP_DIR, DW_FORM_STRING), (DW_AT_PRODUCER, DW_FORM_STRING),
               (DW_AT_LANGUAGE, DW_FORM_DATA2))


def _abbreviations() -> bytes:
    body = uleb(1) + uleb(DW_TAG_COMPILE_UNIT) + b"\0"  # no children
    for attribute, form in _ATTRIBUTES:
        body += uleb(attribute) + uleb(form)
    return body + b"\0\0" + b"\0"


def _compile_unit(table: LineTable, low: int, high: int, word: int) -> bytes:
    die = (uleb(1) + struct.pack("<I", 0) + low.to_bytes(word, "little")
           + struct.pack("<I", high - low) + _cstring(table.name or table.files[0])
           + _cstring(table.comp_dir) + _cstring(PRODUCER)
           + struct.pack("<H", DW_LANG_MIPS_ASSEMBLER))
    unit = struct.pack("<HIB", 4, 0, word) + die + b"\0"
    return struct.pack("<I", len(unit)) + unit


def _aranges(sequences: list[tuple[int, int, range]], word: int) -> bytes:
    header = struct.pack("<HIBB", 2, 0, word, 0)
    pad = -(4 + len(header)) % (2 * word)  # tuples are aligned to twice the address size
    body = header + bytes(pad)
    for start, end, _ in sequences:
        body += start.to_bytes(word, "little") + (end - start).to_bytes(word, "little")
    body += bytes(2 * word)
    return struct.pack("<I", len(body)) + body

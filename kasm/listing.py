"""What `kasm build --map` and `--lines` print: sections, symbols and the line table."""

from __future__ import annotations

from .image import Image


def format_map(image: Image) -> str:
    lines = ["Sections:"]
    for s in image.sections:
        kind = "nobits" if s.nobits else "bytes"
        lines.append(f"  {s.name:<8} 0x{s.address:08x}-0x{s.end:08x}  {s.size:6d} {kind}"
                     f"  align {s.align}")
    lines.append("Symbols:")
    for sym in sorted(image.symbols, key=lambda s: (s.value, s.name)):
        where = sym.section or "*ABS*"
        bind = "global" if sym.is_global else "local"
        value = sym.value & ((1 << 64) - 1 if image.mode.bits == 64 else 0xFFFFFFFF)
        lines.append(f"  0x{value:08x}  {where:<8} {bind:<6} {sym.name}")
    lines.append(f"Entry: 0x{image.entry:x}  Mode: {image.mode.value}")
    return "\n".join(lines)


def format_lines(image: Image) -> str:
    """Each source line's first address and its instructions' extent, as in the ELF's DWARF
    line table: `0x00001000-0x00001008  hello.S:8:5  <the source line>`."""
    out = ["Lines:"]
    table = image.lines
    rows = table.rows() if table is not None else []
    i = 0
    while i < len(rows):
        row, end = rows[i], rows[i].address + rows[i].size
        j = i + 1
        while j < len(rows) and (rows[j].file, rows[j].line, rows[j].col) == \
                (row.file, row.line, row.col):
            end = rows[j].address + rows[j].size
            j += 1
        where = f"{row.file}:{row.line}:{row.col}"
        out.append(f"  0x{row.address:08x}-0x{end:08x}  {where:<24} {row.text.strip()}")
        i = j
    return "\n".join(out)

"""`kasm disasm FILE.elf|FILE.bin`: the code with addresses, bytes, labels and source lines,
without binutils (capstone decodes; the ELF's symbols and DWARF line table name places).

An ELF's code sections are shown in the mode its header implies (kasm marks 16-bit code in
e_flags), a flat image from `--base` in `--mode` (default real: what `kasm run` boots a .bin
in). Bytes that decode to no instruction are shown as `(bad)`, one at a time.
"""

from __future__ import annotations

import os

from vmm.vocabulary import DEFAULT_BASE, BootMode

from .elfread import ElfError, read_elf
from .failures import BUILD_ERROR, Failed, UsageError, error, parse_address, read_input
from .image import Image, Section
from .symbolize import ImageSymbolizer

MODE_NAMES = {16: "16-bit code (real mode)", 32: "32-bit code (protected mode)",
              64: "64-bit code (long mode)"}


def disasm(file: str, mode: str | None = None, base: str | None = None) -> str:
    """The listing of FILE; Failed (after saying why) when it cannot be read."""
    data = read_input(file, source=False)
    kind = os.path.splitext(file)[1].lower()
    if kind == ".elf" or data[:4] == b"\x7fELF":
        if base is not None:
            raise UsageError("an ELF has its own addresses: --base is for a .bin", "'--base'")
        try:
            image, sections = read_elf(data, file)
        except ElfError as e:
            error(str(e))
            raise Failed(BUILD_ERROR) from None
        code = [s.name for s in sections if s.is_code and s.size]
        shown = [s for s in image.sections if s.name in code]
    elif kind == ".bin":
        address = parse_address(base) if base is not None else DEFAULT_BASE
        shown = [Section(".bin", address, data)]
        image = Image(address, shown, entry=address, mode=BootMode.REAL)
    else:
        error(f"{file}: give an .elf or a .bin image (kasm build makes both)")
        raise Failed(BUILD_ERROR)
    bits = BootMode(mode).bits if mode is not None else image.mode.bits
    lines = [f"{file}: {MODE_NAMES[bits]}, entry {image.entry:#x}"]
    symbols = ImageSymbolizer(image)
    for section in shown:
        lines += ["", f"{section.name}:"]
        lines += _listing(section, bits, symbols)
    return "\n".join(lines)


def _listing(section: Section, bits: int, symbols: ImageSymbolizer) -> list[str]:
    from vmm.disasm import MAX_INSTRUCTION, disassembler

    labels: dict[int, list[str]] = {}
    for s in symbols.image.symbols:
        if s.section == section.name or (section.name == ".bin" and s.section):
            labels.setdefault(s.value, []).append(s.name)
    out: list[str] = []
    data, address, end = section.data, section.address, section.end
    shown_line = None
    engine = disassembler()
    while address < end:
        at = address - section.address
        for name in labels.get(address, ()):
            out.append(f"{name}:")
        source = symbols.source(address)
        if source is not None and (source.file, source.line) != shown_line:
            shown_line = (source.file, source.line)
            out.append(f"{source.short}:  {source.text.strip()}")
        decoded = engine.one(data[at:at + MAX_INSTRUCTION], address, bits)
        size, text = decoded if decoded is not None else (1, "(bad)")
        out.append(f"  {address:8x}:  {data[at:at + size].hex(' '):<24}  {text}")
        address += size
    return out

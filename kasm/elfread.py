"""Read an ELF executable back: its sections, symbols, entry, mode and DWARF line table.

For `kasm disasm` and for traces of `kasm run prog.elf`: kasm's own ELFs and those GNU ld
makes. struct alone (lief's import costs 0.3-0.9 s); anything that is not a little-endian
x86 ELF, or whose headers point outside the file, is refused with ElfError.
"""

from __future__ import annotations

import struct

from vmm.vocabulary import ELF_FLAG_REAL_MODE, ELF_MAGIC, BootMode

from .dwarfread import DwarfError, read_line_table
from .image import Image, Section, Symbol

EM_386, EM_X86_64 = 3, 62
SHT_SYMTAB, SHT_NOBITS = 2, 8
SHF_ALLOC, SHF_EXECINSTR = 2, 4
SHN_UNDEF, SHN_LORESERVE = 0, 0xFF00
STT_SECTION, STT_FILE = 3, 4


class ElfError(Exception):
    """Not an ELF kasm can read; the message says why."""


class ElfSection:
    __slots__ = ("name", "kind", "flags", "address", "offset", "size", "data")

    def __init__(self, name: str, kind: int, flags: int, address: int, offset: int, size: int,
                 data: bytes) -> None:
        self.name, self.kind, self.flags = name, kind, flags
        self.address, self.offset, self.size, self.data = address, offset, size, data

    @property
    def is_code(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)


def read_elf(data: bytes, name: str = "ELF file") -> tuple[Image, list[ElfSection]]:
    """The image an ELF describes (allocated sections, symbols, entry, mode and its line table
    when it has `.debug_line`), and every section as it is in the file."""
    if data[:4] != ELF_MAGIC:
        raise ElfError(f"{name}: not an ELF file")
    if len(data) < 52 or data[4] not in (1, 2) or data[5] != 1:
        raise ElfError(f"{name}: not a little-endian 32- or 64-bit ELF file")
    is64 = data[4] == 2
    try:
        if is64:
            (_, machine, _, entry, _, shoff, flags, _, _, _, shentsize, shnum,
             shstrndx) = struct.unpack_from("<HHIQQQIHHHHHH", data, 16)
            shdr = "<IIQQQQIIQQ"
        else:
            (_, machine, _, entry, _, shoff, flags, _, _, _, shentsize, shnum,
             shstrndx) = struct.unpack_from("<HHIIIIIHHHHHH", data, 16)
            shdr = "<IIIIIIIIII"
        if machine not in (EM_386, EM_X86_64):
            raise ElfError(f"{name}: not x86 code (ELF machine {machine})")
        sections = _sections(data, shoff, shentsize, shnum, shstrndx, shdr)
    except struct.error:
        raise ElfError(f"{name}: truncated or damaged ELF headers") from None
    if machine == EM_X86_64:
        mode = BootMode.LONG
    else:
        mode = BootMode.REAL if flags == ELF_FLAG_REAL_MODE else BootMode.PROTECTED
    allocated = [s for s in sections if s.flags & SHF_ALLOC and s.size]
    image_sections = [Section(s.name, s.address, b"" if s.kind == SHT_NOBITS else s.data,
                              nobits=s.kind == SHT_NOBITS,
                              size_override=s.size if s.kind == SHT_NOBITS else None)
                      for s in allocated]
    symbols = _symbols(data, sections, is64)
    base = min((s.address for s in allocated), default=entry)
    image = Image(base, image_sections, symbols, entry, mode)
    by_name = {s.name: s.data for s in sections}
    if ".debug_line" in by_name:
        try:
            image.lines = read_line_table(by_name, 8 if is64 else 4)
        except DwarfError as e:
            raise ElfError(f"{name}: {e}") from None
    return image, sections


def _sections(data: bytes, shoff: int, shentsize: int, shnum: int, shstrndx: int,
              shdr: str) -> list[ElfSection]:
    if not shoff or not shnum:
        return []
    if shentsize != struct.calcsize(shdr) or shoff + shnum * shentsize > len(data):
        raise ElfError("section headers outside the file")
    raw = [struct.unpack_from(shdr, data, shoff + i * shentsize) for i in range(shnum)]
    if not 0 <= shstrndx < shnum:
        raise ElfError("no section name table")
    names_at, names_size = raw[shstrndx][4], raw[shstrndx][5]
    names = data[names_at:names_at + names_size]
    out = []
    for name_offset, kind, flags, address, offset, size, *_ in raw[1:]:
        if kind != SHT_NOBITS and offset + size > len(data):
            raise ElfError("a section outside the file")
        end = names.find(b"\0", name_offset)
        name = names[name_offset:end if end >= 0 else None].decode("utf-8", "replace")
        body = b"" if kind == SHT_NOBITS else data[offset:offset + size]
        out.append(ElfSection(name, kind, flags, address, offset, size, body))
    return out


def _symbols(data: bytes, sections: list[ElfSection], is64: bool) -> list[Symbol]:
    """Named symbols of .symtab (not section or file symbols), in table order."""
    table = next((s for s in sections if s.kind == SHT_SYMTAB), None)
    if table is None:
        return []
    strings = next((s.data for s in sections if s.name == ".strtab"), b"")
    entry = "<IBBHQQ" if is64 else "<IIIBBH"
    size = struct.calcsize(entry)
    out = []
    for at in range(size, len(table.data) - size + 1, size):
        if is64:
            name, info, _, shndx, value, _ = struct.unpack_from(entry, table.data, at)
        else:
            name, value, _, info, _, shndx = struct.unpack_from(entry, table.data, at)
        if info & 0xF in (STT_SECTION, STT_FILE) or not name:
            continue
        end = strings.find(b"\0", name)
        text = strings[name:end if end >= 0 else None].decode("utf-8", "replace")
        section = None
        if SHN_UNDEF < shndx < SHN_LORESERVE and shndx - 1 < len(sections):
            section = sections[shndx - 1].name
        out.append(Symbol(text, value, section, bool(info >> 4)))
    return out

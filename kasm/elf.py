"""Write a linked `Image` as an executable ELF (ET_EXEC), for gdb, objdump and ELF loaders.

Written with `struct` alone: importing lief costs 0.3-0.9 s, many times a whole build. The
layout is that of `ld -N`: ELF header, program headers, each section's bytes at a file offset
congruent to its address (one PT_LOAD per section with memory; `.bss` takes memory but no file
bytes), then the non-alloc sections (`.symtab`, `.strtab`, `extra` ones such as DWARF's
`.debug_*`, `.shstrtab`) and the section header table. The same image gives the same bytes.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Sequence

from kasm.contents import Contents
from kasm.image import Image, Section, Symbol
from vmm.vocabulary import ELF_FLAG_REAL_MODE, BootMode

EM_386 = 3
EM_X86_64 = 62
ET_EXEC = 2
PT_LOAD = 1
PF_X, PF_W, PF_R = 1, 2, 4
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS = 1, 2, 3, 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
SHN_ABS = 0xFFF1
STB_LOCAL, STB_GLOBAL = 0, 1
STT_NOTYPE = 0
MAX_FILE_ALIGN = 0x1000  # a section's file offset matches its address modulo this at most


class _Layout:
    """The struct formats of one ELF class."""

    def __init__(self, is64: bool) -> None:
        self.is64 = is64
        if is64:  # the fields in the spec's order; p_flags comes second in ELF64
            self.ehdr, self.phdr, self.shdr = "<16sHHIQQQIHHHHHH", "<IIQQQQQQ", "<IIQQQQIIQQ"
            self.sym, self.word = "<IBBHQQ", 8
        else:
            self.ehdr, self.phdr, self.shdr = "<16sHHIIIIIHHHHHH", "<IIIIIIII", "<IIIIIIIIII"
            self.sym, self.word = "<IIIBBH", 4
        self.ehsize, self.phentsize, self.shentsize, self.symsize = (
            struct.calcsize(f) for f in (self.ehdr, self.phdr, self.shdr, self.sym))

    def program_header(self, offset: int, address: int, filesz: int, memsz: int, flags: int,
                       align: int) -> bytes:
        if self.is64:
            return struct.pack(self.phdr, PT_LOAD, flags, offset, address, address, filesz,
                               memsz, align)
        return struct.pack(self.phdr, PT_LOAD, offset, address, address, filesz, memsz, flags,
                           align)

    def symbol(self, name: int, value: int, info: int, shndx: int) -> bytes:
        value &= (1 << (8 * self.word)) - 1  # `.set neg, -1` is 0xffffffff, as in GNU's
        if self.is64:
            return struct.pack(self.sym, name, info, 0, shndx, value, 0)
        return struct.pack(self.sym, name, value, 0, info, 0, shndx)


class _Strings:
    """A string table (`.strtab`, `.shstrtab`): offset 0 is the empty name."""

    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self._offsets: dict[str, int] = {"": 0}

    def add(self, name: str) -> int:
        if name not in self._offsets:
            self._offsets[name] = len(self.data)
            self.data += name.encode("utf-8", "surrogateescape") + b"\0"
        return self._offsets[name]


class _Out:
    """One output section: its header fields and its bytes (None for .bss)."""

    def __init__(self, name: str, kind: int, flags: int, data: bytes | Contents | None,
                 size: int, address: int = 0, align: int = 1, link: int = 0, info: int = 0,
                 entsize: int = 0) -> None:
        self.name, self.kind, self.flags, self.data, self.size = name, kind, flags, data, size
        self.address, self.align, self.link, self.info = address, align, link, info
        self.entsize = entsize
        self.offset = 0


def write_elf(image: Image, extra: Sequence[tuple[str, bytes]] = ()) -> bytes:
    """ELF64/x86-64 for a long-mode image; ELF32/i386 otherwise (ELF has no 16-bit machine:
    e_flags says real mode). `extra`: more non-alloc sections, (name, bytes), after .strtab."""
    return bytes(elf_contents(image, extra))


def elf_contents(image: Image, extra: Sequence[tuple[str, bytes]] = ()) -> Contents:
    """`write_elf` with the sections' long runs of zeros still sizes: what is written."""
    names = {s.name for s in image.sections}
    symbols = image.symbols
    for symbol in symbols:
        if symbol.section is not None and symbol.section not in names:
            raise ValueError(f"symbol {symbol.name!r} is in unknown section {symbol.section!r}")
    layout = _Layout(image.mode is BootMode.LONG)
    sections = [_allocated(s) for s in image.sections]
    index = {s.name: i for i, s in enumerate(sections, start=1)}
    symtab_index = len(sections) + 1
    symtab, strtab, locals_ = _symbol_table(layout, symbols, index)
    sections.append(_Out(".symtab", SHT_SYMTAB, 0, symtab, len(symtab), align=layout.word,
                         link=symtab_index + 1, info=1 + locals_, entsize=layout.symsize))
    sections.append(_Out(".strtab", SHT_STRTAB, 0, strtab, len(strtab)))
    sections += [_Out(name, SHT_PROGBITS, 0, data, len(data)) for name, data in extra]
    shstrtab = _Strings()
    sections.append(_Out(".shstrtab", SHT_STRTAB, 0, b"", 0))
    name_offsets = [shstrtab.add(s.name) for s in sections]
    sections[-1].data = bytes(shstrtab.data)
    sections[-1].size = len(shstrtab.data)

    loads = [s for s in sections if s.flags & SHF_ALLOC and s.size]
    phoff = layout.ehsize
    body = Contents(bytes(phoff + layout.phentsize * len(loads)))
    for s in sections:
        if s.data is None:  # .bss: where its PT_LOAD starts, no bytes
            s.offset = _congruent(len(body), s.address, s.align)
            continue
        if s.flags & SHF_ALLOC:
            s.offset = _congruent(len(body), s.address, s.align)
        else:
            s.offset = _aligned(len(body), s.align)
        body.append_zeros(s.offset - len(body))
        if isinstance(s.data, Contents):
            body.extend(s.data)
        else:
            body.append(s.data)
    shoff = _aligned(len(body), layout.word)
    body.append_zeros(shoff - len(body))

    headers = b"".join(
        layout.program_header(s.offset, s.address, 0 if s.data is None else s.size, s.size,
                              _segment_flags(s), _file_align(s.align))
        for s in sorted(loads, key=lambda s: s.address))
    body.patch(phoff, headers)
    ident = b"\x7fELF" + bytes([2 if layout.is64 else 1, 1, 1])  # little endian, EV_CURRENT
    flags = ELF_FLAG_REAL_MODE if image.mode is BootMode.REAL else 0
    body.patch(0, struct.pack(
        layout.ehdr, ident, ET_EXEC, EM_X86_64 if layout.is64 else EM_386, 1, image.entry,
        phoff if loads else 0, shoff, flags, layout.ehsize, layout.phentsize, len(loads),
        layout.shentsize, len(sections) + 1, len(sections)))
    body.append(bytes(layout.shentsize))  # the null section header
    for s, name in zip(sections, name_offsets, strict=True):
        body.append(struct.pack(layout.shdr, name, s.kind, s.flags, s.address, s.offset,
                                s.size, s.link, s.info, s.align, s.entsize))
    return body


def save_elf(image: Image, path: str | os.PathLike[str]) -> None:
    with open(path, "wb") as f:
        elf_contents(image).write_to(f)


def _allocated(section: Section) -> _Out:
    flags = {".text": SHF_ALLOC | SHF_EXECINSTR, ".rodata": SHF_ALLOC}.get(
        section.name, SHF_ALLOC | SHF_WRITE)
    if section.name.startswith(".text."):
        flags = SHF_ALLOC | SHF_EXECINSTR
    elif section.name.startswith(".rodata."):
        flags = SHF_ALLOC
    kind = SHT_NOBITS if section.nobits else SHT_PROGBITS
    data = None if section.nobits else section.data
    return _Out(section.name, kind, flags, data, section.size, section.address,
                max(section.align, 1))


def _symbol_table(layout: _Layout, symbols: Iterable[Symbol],
                  index: dict[str, int]) -> tuple[bytes, bytes, int]:
    """(.symtab, .strtab, number of locals): index 0 is the null symbol, locals come first."""
    ordered = sorted(symbols, key=lambda s: s.is_global)  # stable: source order within each
    strings = _Strings()
    table = bytearray(layout.symsize)
    for s in ordered:
        bind = STB_GLOBAL if s.is_global else STB_LOCAL
        shndx = SHN_ABS if s.section is None else index[s.section]
        table += layout.symbol(strings.add(s.name), s.value, bind << 4 | STT_NOTYPE, shndx)
    return bytes(table), bytes(strings.data), sum(not s.is_global for s in ordered)


def _segment_flags(s: _Out) -> int:
    return PF_R | (PF_X if s.flags & SHF_EXECINSTR else 0) | (PF_W if s.flags & SHF_WRITE else 0)


def _file_align(align: int) -> int:
    """p_align: the largest power of two up to the section's alignment and MAX_FILE_ALIGN
    (loaders want p_offset ≡ p_vaddr modulo p_align)."""
    p = 1
    while p * 2 <= min(align, MAX_FILE_ALIGN):
        p *= 2
    return p


def _congruent(offset: int, address: int, align: int) -> int:
    """The first file offset from `offset` that is congruent to `address` modulo p_align."""
    p = _file_align(align)
    return offset + (address - offset) % p


def _aligned(offset: int, align: int) -> int:
    return -(-offset // max(align, 1)) * max(align, 1)

"""Write a linked `Image` as an executable ELF (ET_EXEC), for gdb, objdump and ELF loaders.

lief does the work: the sections, one PT_LOAD per section, `.symtab`/`.strtab`/`.shstrtab`, the
entry point and the file layout. Where lief 1.0 falls short, the workarounds are:

* It cannot start from nothing: `lief.ELF.Binary` has no constructor (LIEF issue #213). So
  `_skeleton` packs, with `struct`, the smallest file lief will grow: an ELF header, a null
  section, `.shstrtab`, and one PT_LOAD over the headers. lief needs that PT_LOAD because it adds
  a segment only after moving the program header table, and it won't move a table that has none.
* That bootstrap PT_LOAD, and the one lief adds for the moved table, would load ELF headers into
  guest memory, so both are removed.
* `Binary.add(section)` pads the section and its new segment to a page; both are trimmed back.
  It makes a segment only for a section with content, so `.bss` gets a placeholder byte.
* Section indexes are final only after lief has laid the file out (it moves `.shstrtab` last),
  so the symbols are added in a second pass over the written file.
* Whenever lief appends a table it also moves every section with no file bytes that sits at
  the end of the file, address and all. Those sections are kept at file offset 0 (harmless for
  no bytes) until a third pass, which appends nothing, puts `.bss` at its segment's offset.
* lief sets the `.symtab` sh_info to the index of the first FUNC/OBJECT global: the symbol
  count here, where the spec wants one past the last local. The third pass sets it and writes
  without rebuilding `.symtab`, which would recompute it.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

from kasm.image import Image, Section
from vmm.vocabulary import ELF_FLAG_REAL_MODE, BootMode

if TYPE_CHECKING:
    import lief

EM_386 = 3
EM_X86_64 = 62
SHN_ABS = 0xFFF1


def write_elf(image: Image) -> bytes:
    """ELF64/x86-64 for a long-mode image; ELF32/i386 otherwise, as ELF has no 16-bit machine."""
    import lief

    lief.logging.disable()  # its notes on stderr would read like kasm errors
    names = {s.name for s in image.sections}
    for symbol in image.symbols:
        if symbol.section is not None and symbol.section not in names:
            raise ValueError(f"symbol {symbol.name!r} is in unknown section {symbol.section!r}")

    elf = lief.ELF.parse(_skeleton(image.mode is BootMode.LONG))
    for section in image.sections:
        _add_section(elf, section)
    for segment in list(elf.segments):
        if not segment.sections:  # the bootstrap PT_LOAD and the one over the moved table
            elf.remove(segment)
    elf.header.entrypoint = image.entry
    if image.mode is BootMode.REAL:  # ELF has no 16-bit machine: say so where the VMM looks
        elf.header.processor_flag = ELF_FLAG_REAL_MODE

    elf = lief.ELF.parse(elf.write_to_bytes())
    symbols = [s for s in image.symbols if not s.is_global]
    symbols += [s for s in image.symbols if s.is_global]  # ELF puts the locals first
    binding = lief.ELF.Symbol.BINDING
    elf.add_symtab_symbol(lief.ELF.Symbol())  # index 0, STN_UNDEF
    for symbol in symbols:
        entry = lief.ELF.Symbol()
        entry.name = symbol.name
        entry.value = symbol.value
        entry.binding = binding.GLOBAL if symbol.is_global else binding.LOCAL
        entry.type = lief.ELF.Symbol.TYPE.NOTYPE
        entry.shndx = SHN_ABS if symbol.section is None else elf.get_section_idx(symbol.section)
        elf.add_symtab_symbol(entry)

    elf = lief.ELF.parse(elf.write_to_bytes())
    for section in image.sections:
        if section.nobits and section.size:
            placed = elf.get_section(section.name)
            placed.offset = elf.segment_from_virtual_address(section.address).file_offset
    elf.get_section(".symtab").information = 1 + sum(not s.is_global for s in symbols)
    config = lief.ELF.Builder.config_t()
    config.static_symtab = False
    return elf.write_to_bytes(config)


def save_elf(image: Image, path: str | os.PathLike[str]) -> None:
    with open(path, "wb") as f:
        f.write(write_elf(image))


def _add_section(elf: lief.ELF.Binary, section: Section) -> None:
    import lief

    flags = lief.ELF.Section.FLAGS
    new = lief.ELF.Section(
        section.name,
        lief.ELF.Section.TYPE.NOBITS if section.nobits else lief.ELF.Section.TYPE.PROGBITS,
    )
    new.flags = {
        ".text": flags.ALLOC | flags.EXECINSTR,
        ".rodata": flags.ALLOC,
    }.get(section.name, flags.ALLOC | flags.WRITE)
    new.alignment = section.align
    new.virtual_address = section.address
    new.content = memoryview(section.data if section.data and not section.nobits else b"\0")
    added = elf.add(new, loaded=True)
    segment = elf.segment_from_offset(added.offset)
    added.size = section.size
    added.virtual_address = section.address  # lief moves it when the address is 0
    segment.virtual_address = segment.physical_address = section.address
    segment.virtual_size = section.size
    segment.physical_size = 0 if section.nobits else section.size
    segment.alignment = _congruent_align(section.align, section.address, segment.file_offset)
    if not section.size:
        elf.remove(segment)
    if section.nobits or not section.size:
        added.offset = 0


def _congruent_align(align: int, address: int, offset: int) -> int:
    """Loaders need p_offset == p_vaddr modulo p_align; lief puts segments on page offsets."""
    p = 1
    while p * 2 <= align and (address | offset) % (p * 2) == 0:
        p *= 2
    return p


def _skeleton(is64: bool) -> bytes:
    """The smallest ELF lief will grow: header, one PT_LOAD over it, null section, .shstrtab."""
    shstrtab = b"\0.shstrtab\0"
    if is64:
        ehdr, phdr, shdr = "<16sHHIQQQIHHHHHH", "<IIQQQQQQ", "<IIQQQQIIQQ"
        ident_class, machine = 2, EM_X86_64
    else:
        ehdr, phdr, shdr = "<16sHHIIIIIHHHHHH", "<IIIIIIII", "<IIIIIIIIII"
        ident_class, machine = 1, EM_386
    ehsize, phentsize, shentsize = (struct.calcsize(f) for f in (ehdr, phdr, shdr))
    headers = ehsize + phentsize
    ident = b"\x7fELF" + bytes([ident_class, 1, 1])  # little endian, EV_CURRENT
    # e_type=ET_EXEC, e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags,
    # e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
    header = struct.pack(
        ehdr, ident, 2, machine, 1, 0, ehsize, headers + len(shstrtab), 0,
        ehsize, phentsize, 1, shentsize, 2, 1,
    )  # fmt: skip
    # PT_LOAD, PF_R, offset 0, address 0, size of the headers, page-aligned
    if is64:  # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
        load = struct.pack(phdr, 1, 4, 0, 0, 0, headers, headers, 0x1000)
    else:  # p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align
        load = struct.pack(phdr, 1, 0, 0, 0, headers, headers, 4, 0x1000)
    # sh_name, SHT_STRTAB, sh_flags, sh_addr, sh_offset, sh_size, link, info, addralign, entsize
    names = struct.pack(shdr, 1, 3, 0, 0, headers, len(shstrtab), 0, 0, 1, 0)
    return header + load + shstrtab + bytes(shentsize) + names

"""kasm.elf (written with struct alone), checked against GNU binutils (readelf, objdump, objcopy,
nm), gdb where installed, and lief's parser (what vmm loads ELF guests with)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kasm.build import build_source
from kasm.elf import save_elf, write_elf
from kasm.image import Image, Section, Symbol
from vmm.vocabulary import BootMode

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("readelf", "objdump", "objcopy", "nm")),
    reason="GNU binutils are the oracle",
)

CODE16 = b"\xb8\x01\x00\xeb\xfe"  # mov ax, 1; jmp $
CODE32 = b"\xb8\x01\x00\x00\x00\xeb\xfe"  # mov eax, 1; jmp $
IMAGE_MODES = (BootMode.REAL, BootMode.PROTECTED, BootMode.LONG)
BASES = {BootMode.REAL: 0x7C00, BootMode.PROTECTED: 0x100000, BootMode.LONG: 0x200000}


def full_image(mode: BootMode, base: int | None = None) -> Image:
    base = BASES[mode] if base is None else base
    code = CODE16 if mode is BootMode.REAL else CODE32
    return Image(
        base=base,
        sections=[
            Section(".text", base, code, align=16),
            Section(".rodata", base + 0x10, b"hello\0", align=4),
            Section(".data", base + 0x18, b"\x01\x02\x03\x04", align=4),
            Section(".bss", base + 0x20, b"", align=16, nobits=True, size_override=0x40),
        ],
        symbols=[
            Symbol("start", base, ".text", is_global=True),
            Symbol("msg", base + 0x10, ".rodata"),
            Symbol("counter", base + 0x18, ".data", is_global=True),
            Symbol("buf", base + 0x20, ".bss"),
            Symbol("SIZE", 0x1234, None, is_global=True),
            Symbol("LIMIT", 0x10, None),
        ],
        entry=base + len(code) - 2,  # the jmp: e_entry must be the entry, not the base
        mode=mode,
    )


def text_only(mode: BootMode) -> Image:
    base = BASES[mode]
    code = CODE16 if mode is BootMode.REAL else CODE32
    sections = [Section(".text", base, code)]
    return Image(base, sections, [Symbol("start", base, ".text", True)], entry=base, mode=mode)


def sparse_image() -> Image:
    """Page-aligned sections with gaps and a .bss far larger than the file should be."""
    return Image(
        base=0x10000,
        sections=[
            Section(".text", 0x10000, b"\x90" * 100, align=16),
            Section(".rodata", 0x11000, b"r" * 5000, align=0x1000),
            Section(".data", 0x13000, b"d" * 3, align=0x1000),
            Section(".bss", 0x14000, b"", align=0x1000, nobits=True, size_override=1 << 20),
        ],
        symbols=[Symbol("stack_top", 0x14000 + (1 << 20), ".bss", True)],
        entry=0x10000,
        mode=BootMode.PROTECTED,
    )


def empty_sections_image() -> Image:
    return Image(
        base=0x7C00,
        sections=[
            Section(".text", 0x7C00, b"\xf4", align=1),
            Section(".rodata", 0x7C01, b"", align=1),
            Section(".data", 0x7C01, b"", align=1),
            Section(".bss", 0x7C01, b"", align=1, nobits=True, size_override=0),
        ],
        symbols=[Symbol("end", 0x7C01, ".bss", True)],
        entry=0x7C00,
    )


ALL_IMAGES = {
    **{f"full-{m.value}": full_image(m) for m in IMAGE_MODES},
    **{f"text-only-{m.value}": text_only(m) for m in IMAGE_MODES},
    "full-real-at-0": full_image(BootMode.REAL, 0),  # lief treats address 0 as "pick one"
    "full-long-higher-half": full_image(BootMode.LONG, 0xFFFFFFFF80000000),
    "sparse": sparse_image(),
    "empty-sections": empty_sections_image(),
}
image_cases = pytest.mark.parametrize("image", ALL_IMAGES.values(), ids=ALL_IMAGES.keys())


def run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True)


@pytest.fixture
def elf_of(tmp_path: Path):
    def make(image: Image) -> Path:
        path = tmp_path / "guest.elf"
        save_elf(image, path)
        return path

    return make


def sections(path: Path) -> dict[str, dict]:
    """readelf -S, by name."""
    row = re.compile(
        r"\[\s*(\d+)\]\s+(\.\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+"
        r"\s+([A-Z]*)\s+(\d+)\s+(\d+)\s+(\d+)$"
    )
    found = {}
    for line in run("readelf", "-SW", path).stdout.splitlines():
        if m := row.search(line):
            idx, name, kind, addr, off, size, flags, link, info, align = m.groups()
            found[name] = {
                "index": int(idx),
                "type": kind,
                "addr": int(addr, 16),
                "offset": int(off, 16),
                "size": int(size, 16),
                "flags": flags,
                "info": int(info),
                "align": int(align),
            }
    return found


def loads(path: Path) -> list[tuple[int, int, int, int, int]]:
    """readelf -l PT_LOADs as (offset, vaddr, paddr, filesz, memsz)."""
    row = re.compile(r"^\s*LOAD\s+" + r"\s+".join(["(0x[0-9a-f]+)"] * 5))
    return [
        tuple(int(g, 16) for g in m.groups())
        for line in run("readelf", "-lW", path).stdout.splitlines()
        if (m := row.search(line))
    ]


def symbols(path: Path) -> dict[str, tuple[int, str, str, str]]:
    """readelf -s as name -> (value, type, binding, ndx)."""
    row = re.compile(r"^\s*\d+:\s+([0-9a-f]+)\s+\d+\s+(\w+)\s+(\w+)\s+\w+\s+(\w+)\s+(\S+)$")
    return {
        m[5]: (int(m[1], 16), m[2], m[3], m[4])
        for line in run("readelf", "-sW", path).stdout.splitlines()
        if (m := row.search(line))
    }


@pytest.mark.parametrize("mode", [BootMode.REAL, BootMode.PROTECTED])
def test_real_and_protected_images_are_elf32_i386_executables(mode: BootMode, elf_of) -> None:
    header = run("readelf", "-hW", elf_of(full_image(mode))).stdout
    assert re.search(r"Class:\s+ELF32\n", header)
    assert re.search(r"Machine:\s+Intel 80386\n", header)
    assert re.search(r"Type:\s+EXEC ", header)


def test_long_mode_image_is_elf64_x86_64_executable(elf_of) -> None:
    header = run("readelf", "-hW", elf_of(full_image(BootMode.LONG))).stdout
    assert re.search(r"Class:\s+ELF64\n", header)
    assert re.search(r"Machine:\s+Advanced Micro Devices X86-64\n", header)
    assert re.search(r"Type:\s+EXEC ", header)


@pytest.mark.parametrize("mode", IMAGE_MODES)
def test_entry_point_is_the_image_entry(mode: BootMode, elf_of) -> None:
    image = full_image(mode)
    assert image.entry != image.base
    header = run("readelf", "-hW", elf_of(image)).stdout
    assert re.search(rf"Entry point address:\s+{image.entry:#x}\n", header)


@pytest.mark.parametrize("mode", IMAGE_MODES)
def test_sections_keep_names_addresses_alignments_types_and_flags(mode: BootMode, elf_of) -> None:
    image = full_image(mode)
    found = sections(elf_of(image))
    expected_flags = {".text": "AX", ".rodata": "A", ".data": "WA", ".bss": "WA"}
    for s in image.sections:
        got = found[s.name]
        assert (got["addr"], got["size"], got["align"]) == (s.address, s.size, s.align), s.name
        assert got["type"] == ("NOBITS" if s.nobits else "PROGBITS"), s.name
        assert got["flags"] == expected_flags[s.name], s.name
    assert [n for n in found if n.startswith(".")][:4] == [s.name for s in image.sections]
    assert {".symtab", ".strtab", ".shstrtab"} <= found.keys()


def test_text_only_image_has_just_text_and_the_tables(elf_of) -> None:
    found = sections(elf_of(text_only(BootMode.REAL)))
    assert set(found) == {".text", ".symtab", ".strtab", ".shstrtab"}
    assert len(loads(elf_of(text_only(BootMode.REAL)))) == 1


@image_cases
def test_objcopy_binary_equals_image_flat(image: Image, elf_of, tmp_path: Path) -> None:
    flat = tmp_path / "guest.bin"
    run("objcopy", "-O", "binary", elf_of(image), flat)
    assert flat.read_bytes() == image.flat()


@image_cases
def test_loading_the_pt_loads_gives_the_image_and_a_zeroed_bss(image: Image, elf_of) -> None:
    path = elf_of(image)
    data = path.read_bytes()
    segments = loads(path)
    assert segments == sorted(segments, key=lambda s: s[1])
    low = min(s.address for s in image.sections)
    memory = bytearray(image.memory_end - low)
    for offset, vaddr, paddr, filesz, memsz in segments:
        assert paddr == vaddr
        assert filesz <= memsz
        assert low <= vaddr and vaddr + memsz <= image.memory_end  # no ELF headers loaded
        memory[vaddr - low : vaddr - low + filesz] = data[offset : offset + filesz]
    assert max(v + m for _, v, _, _, m in segments) == image.memory_end
    flat = image.flat()
    assert memory[: len(flat)] == flat
    assert not any(memory[len(flat) :])


def test_bss_takes_memory_but_no_file_space(elf_of) -> None:
    image = sparse_image()
    path = elf_of(image)
    assert path.stat().st_size < 64 * 1024
    *_, (offset, vaddr, _, filesz, memsz) = loads(path)
    assert (vaddr, filesz, memsz) == (0x14000, 0, 1 << 20)
    assert sections(path)[".bss"]["offset"] == offset  # where ld puts it, inside its PT_LOAD


@pytest.mark.parametrize("mode", IMAGE_MODES)
def test_symbols_keep_values_bindings_and_sections(mode: BootMode, elf_of) -> None:
    image = full_image(mode)
    path = elf_of(image)
    index = {name: str(s["index"]) for name, s in sections(path).items()}
    found = symbols(path)
    assert len(found) == len(image.symbols)
    for s in image.symbols:
        value, kind, binding, ndx = found[s.name]
        assert value == s.value, s.name
        assert kind == "NOTYPE"
        assert binding == ("GLOBAL" if s.is_global else "LOCAL"), s.name
        assert ndx == ("ABS" if s.section is None else index[s.section]), s.name


def test_nm_classifies_symbols_by_section_and_binding(elf_of) -> None:
    lines = run("nm", elf_of(full_image(BootMode.REAL))).stdout.splitlines()
    listed = {name: letter for _, letter, name in map(str.split, lines)}
    expected = {"start": "T", "msg": "r", "counter": "D", "buf": "b", "SIZE": "A", "LIMIT": "a"}
    assert listed == expected


def test_symtab_sh_info_is_one_past_the_last_local(elf_of) -> None:
    image = full_image(BootMode.PROTECTED)
    locals_ = sum(not s.is_global for s in image.symbols)
    assert sections(elf_of(image))[".symtab"]["info"] == 1 + locals_


def test_empty_sections_are_kept_without_program_headers(elf_of) -> None:
    image = empty_sections_image()
    path = elf_of(image)
    found = sections(path)
    for name in (".rodata", ".data", ".bss"):
        assert (found[name]["addr"], found[name]["size"]) == (0x7C01, 0)
    assert [load[1:] for load in loads(path)] == [(0x7C00, 0x7C00, 1, 1)]
    assert symbols(path)["end"] == (0x7C01, "NOTYPE", "GLOBAL", str(found[".bss"]["index"]))


@image_cases
def test_readelf_and_objdump_read_it_without_warnings(image: Image, elf_of) -> None:
    path = elf_of(image)
    readelf = run("readelf", "-a", "-W", path)
    assert readelf.stderr == ""
    assert "warning" not in readelf.stdout.lower()
    mode16 = ["-M", "i8086"] if image.mode is BootMode.REAL else []
    assert run("objdump", "-d", *mode16, path).stderr == ""
    assert run("nm", path).stderr == ""


def test_objdump_disassembles_16_bit_code_at_its_address(elf_of) -> None:
    listing = run("objdump", "-d", "-M", "i8086", elf_of(full_image(BootMode.REAL))).stdout
    assert "00007c00 <start>:" in listing
    assert re.search(r"7c00:\s+b8 01 00\s+mov\s+\$0x1,%ax", listing)
    assert re.search(r"7c03:\s+eb fe\s+jmp\s+7c03", listing)


@pytest.mark.parametrize("mode", IMAGE_MODES)
def test_lief_parses_it_back(mode: BootMode) -> None:
    import lief

    image = full_image(mode)
    elf = lief.ELF.parse(write_elf(image))
    assert elf is not None
    assert elf.entrypoint == image.entry
    for s in image.sections:
        placed = elf.get_section(s.name)
        assert (placed.virtual_address, placed.size) == (s.address, s.size)
        if not s.nobits:
            assert bytes(placed.content) == s.data
    assert {s.name: s.value for s in elf.symtab_symbols if s.name} == {
        s.name: s.value for s in image.symbols
    }


def test_same_image_gives_the_same_bytes() -> None:
    assert write_elf(full_image(BootMode.LONG)) == write_elf(full_image(BootMode.LONG))


def test_symbol_in_unknown_section_is_rejected() -> None:
    image = text_only(BootMode.REAL)
    image.symbols.append(Symbol("lost", 0x7C00, ".init"))
    with pytest.raises(ValueError, match="lost"):
        write_elf(image)


def test_writing_an_elf_never_imports_lief() -> None:
    """lief takes most of a second to import: many times a whole `kasm build`."""
    code = ("import sys, kasm.elf; from kasm.image import *; "
            "kasm.elf.write_elf(Image(0x1000, [Section('.text', 0x1000, b'\\xf4')])); "
            "sys.exit('lief' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_real_mode_flag_is_the_one_vmm_boots_in_real_mode() -> None:
    from vmm.vocabulary import ELF_FLAG_REAL_MODE as VMM_FLAG

    header = lief_parse(full_image(BootMode.REAL)).header
    assert header.processor_flag == VMM_FLAG
    assert lief_parse(full_image(BootMode.PROTECTED)).header.processor_flag == 0


def lief_parse(image: Image, extra: tuple = ()):  # noqa: ANN201 - a lief.ELF.Binary
    import lief

    elf = lief.ELF.parse(write_elf(image, extra))
    assert elf is not None
    return elf


@pytest.mark.parametrize("mode", IMAGE_MODES)
def test_lief_reads_segments_bindings_and_the_symtab_link(mode: BootMode) -> None:
    import lief

    image = full_image(mode)
    elf = lief_parse(image)
    loads = [(s.virtual_address, s.physical_size, s.virtual_size) for s in elf.segments
             if s.type == lief.ELF.Segment.TYPE.LOAD]
    assert loads == [(s.address, 0 if s.nobits else s.size, s.size) for s in image.sections
                     if s.size]
    binding = lief.ELF.Symbol.BINDING
    got = {s.name: s.binding for s in elf.symtab_symbols if s.name}
    assert got == {s.name: binding.GLOBAL if s.is_global else binding.LOCAL
                   for s in image.symbols}
    assert elf.get_section(".symtab").link == elf.get_section_idx(".strtab")


def test_local_dot_l_labels_are_left_out_as_gnu_as_does(elf_of) -> None:
    # the linker drops them: the image, its ELF and its map never show them
    image = build_source(".code16\n_start:\n.Lloop: jmp .Lloop\nkept: hlt\n").image
    assert [s.name for s in image.symbols] == ["_start", "kept"]
    found = symbols(elf_of(image))
    assert ".Lloop" not in found and "kept" in found


def test_extra_sections_come_after_the_symbols_and_load_nothing(tmp_path: Path) -> None:
    """Room for DWARF: non-alloc sections (.debug_*) that loaders and objcopy ignore."""
    image = full_image(BootMode.PROTECTED)
    path = tmp_path / "debug.elf"
    path.write_bytes(write_elf(image, [(".debug_line", b"\x01\x02\x03"),
                                       (".debug_info", b"info")]))
    found = sections(path)
    assert found[".debug_line"]["index"] > found[".strtab"]["index"]
    assert (found[".debug_line"]["type"], found[".debug_line"]["flags"]) == ("PROGBITS", "")
    assert found[".debug_info"]["size"] == 4
    dump = run("readelf", "-x", ".debug_line", path).stdout
    assert "010203" in dump.replace(" ", "")
    assert run("readelf", "-a", "-W", path).stderr == ""
    flat = tmp_path / "debug.bin"
    run("objcopy", "-O", "binary", path, flat)
    assert flat.read_bytes() == image.flat()
    assert len(loads(path)) == 4


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
@pytest.mark.parametrize("mode", IMAGE_MODES)
def test_gdb_reads_entry_sections_and_symbols(mode: BootMode, elf_of) -> None:
    image = full_image(mode)
    gdb = run("gdb", "-batch", "-nx", "-ex", "info files", "-ex", "info address counter",
              "-ex", f"info symbol {image.base + 1:#x}", elf_of(image)).stdout
    assert f"Entry point: {image.entry:#x}" in gdb
    for s in image.sections:
        if s.size:
            assert re.search(rf"{s.address:#0{10 if mode is not BootMode.LONG else 18}x} - "
                             rf"{s.end:#0{10 if mode is not BootMode.LONG else 18}x} is {s.name}",
                             gdb), s.name
    assert f'Symbol "counter" is at {image.base + 0x18:#x}' in gdb
    assert "start + 1 in section .text" in gdb


@pytest.mark.parametrize("mode", [BootMode.PROTECTED, BootMode.LONG])
def test_negative_absolute_symbols_are_written_as_gnu_writes_them(mode: BootMode, elf_of) -> None:
    """`.set neg, -1` / `.equ X, -42`: the two's complement in the symbol's word, as in GNU's
    object file (it used to crash the writer after the flat image was written)."""
    image = text_only(mode)
    image.symbols += [Symbol("neg", -1, None), Symbol("X", -42, None)]
    found = symbols(elf_of(image))
    mask = (1 << 64) - 1 if mode is BootMode.LONG else 0xFFFFFFFF
    assert found["neg"][0] == mask and found["X"][0] == -42 & mask
    assert found["neg"][3] == "ABS"

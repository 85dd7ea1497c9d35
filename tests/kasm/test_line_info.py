"""kasm's line table and its DWARF: every instruction address maps to the line the user wrote
(through #include, .include and macros), checked with addr2line, objdump -dl and gdb, and
against what `as -g` + ld give for the same preprocessed text."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kasm.build import build_file
from kasm.dwarf import debug_sections
from kasm.elf import write_elf
from kasm.elfread import read_elf

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.relative_to(ROOT) for p in (ROOT / "examples").rglob("*.S"))

MAIN = """\
#include "inc.h"
.code16
.macro twice reg
    inc \\reg
    dec \\reg
.endm
.globl _start
_start:
    mov $1, %ax
    twice %ax
    from_header
    .include "part.s"
    jmp done
    .fill 200, 1, 0x90
done:
    hlt
"""
HEADER = """\
.macro from_header
    nop
    twice %bx
.endm
.text
    cli
"""
PART = """\
    clc
    twice %cx
"""
# (line in main.S or "part.s:N"/"inc.h:N", first bytes) in address order
EXPECTED = [("inc.h", 6), ("main.S", 9), ("main.S", 10), ("main.S", 11), ("part.s", 1),
            ("part.s", 2), ("main.S", 13), ("main.S", 16)]


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (the oracle)")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "main.S").write_text(MAIN)
    (tmp_path / "inc.h").write_text(HEADER)
    (tmp_path / "part.s").write_text(PART)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def elf_of(source: str, out: Path) -> tuple[Path, object]:
    image = build_file(source).image
    out.write_bytes(write_elf(image, debug_sections(image)))
    return out, image


def test_line_table_charges_macros_and_includes_to_the_line_the_user_wrote(project: Path):
    table = build_file("main.S").image.lines
    seen = []
    for row in table.rows():
        where = (os.path.basename(row.file), row.line)
        if not seen or seen[-1] != where:
            seen.append(where)
    assert seen == EXPECTED
    twice = [r for r in table.rows() if r.line == 10 and r.file == "main.S"]
    assert [r.size for r in twice] == [1, 1] and twice[0].col == 5
    assert twice[0].text == "    twice %ax"
    jmp = next(r for r in table.rows() if r.line == 13)
    assert jmp.size == 3  # relaxed to rel16 over the fill: layout sized the branch


def test_addr2line_gives_kasms_line_for_every_instruction(project: Path):
    need("addr2line")
    elf, image = elf_of("main.S", project / "main.elf")
    rows = image.lines.rows()
    out = subprocess.run(["addr2line", "-e", str(elf), *(hex(r.address) for r in rows)],
                         capture_output=True, text=True, check=True).stdout.split()
    assert [(os.path.basename(o.split(":")[0]), int(o.split(":")[1])) for o in out] == [
        (os.path.basename(r.file), r.line) for r in rows]
    assert out[1].startswith(str(project))  # the compilation directory is the build's


def test_objdump_dl_shows_the_source_lines(project: Path):
    need("objdump")
    elf, _ = elf_of("main.S", project / "main.elf")
    text = subprocess.run(["objdump", "-dl", "-M", "i8086", str(elf)], capture_output=True,
                          text=True, check=True).stdout
    shown = re.findall(r"^(?:.*/)?([\w.]+):(\d+)", text, re.MULTILINE)
    assert [(f, int(n)) for f, n in shown] == EXPECTED


def test_gdb_info_line_list_and_break_by_file_and_line(project: Path):
    need("gdb")
    elf, image = elf_of("main.S", project / "main.elf")
    jmp = next(r for r in image.lines.rows() if r.line == 13)
    out = subprocess.run(
        ["gdb", "-nx", "-batch", "-ex", f"info line *{jmp.address:#x}",
         "-ex", f"list *{jmp.address:#x}", "-ex", "break main.S:16", str(elf)],
        capture_output=True, text=True, timeout=60).stdout
    assert f'Line 13 of "main.S" starts at address {jmp.address:#x}' in out
    assert "13\t    jmp done" in out
    done = next(r for r in image.lines.rows() if r.line == 16)
    assert f"Breakpoint 1 at {done.address:#x}: file main.S, line 16." in out


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_lines_match_gnu_as_g(example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              binutils: None):
    """For every example: the (file, line) of each line's first address is what `as -g`
    gives for the same preprocessed text (its `#line` markers in GNU's `# N "file"` form)."""
    import gnu_oracle

    monkeypatch.chdir(ROOT)
    source = str(example)
    kasm_rows = read_elf(elf_of(source, tmp_path / "k.elf")[0].read_bytes())[0].lines.rows()
    text = gnu_oracle.same_text(example.read_text(), source, [])
    text = re.sub(r"^#line (\d+) ", r"# \1 ", text, flags=re.MULTILINE)
    if not text.startswith("# 1 "):
        text = f'# 1 "{source}"\n' + text
    wide = ".code64" in re.findall(r"^\s*(\.code\d\d)", text, re.MULTILINE)[-1:]
    (tmp_path / "g.s").write_text(text)
    subprocess.run(["as", "--64" if wide else "--32", "-g", "-o", "g.o", "g.s"],
                   cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["ld", "-m", "elf_x86_64" if wide else "elf_i386", "-N", "-T",
                    str(gnu_oracle.LINK_SCRIPT), "-e", "0", "-o", "g.elf", "g.o"],
                   cwd=tmp_path, check=True, capture_output=True)
    gnu_rows = read_elf((tmp_path / "g.elf").read_bytes())[0].lines.rows()

    def lines(rows: list) -> list[tuple[int, str, int]]:
        return [(r.address, os.path.basename(r.file), r.line) for r in rows]

    assert lines(kasm_rows) == lines(gnu_rows)


def test_elf_with_lines_is_byte_stable_and_the_cache_keeps_the_table(project: Path):
    from kasm import commands

    first = elf_of("main.S", project / "a.elf")[0].read_bytes()
    again = elf_of("main.S", project / "b.elf")[0].read_bytes()
    assert first == again
    built = commands.build_image("main.S", 0x1000, [], [])
    cached = commands.build_image("main.S", 0x1000, [], [])
    assert type(cached).__name__ == "CachedBuild"
    assert cached.image.lines == built.image.lines

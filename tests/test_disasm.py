"""kasm disasm: an ELF's code with labels and source lines, a .bin in the mode asked for, GNU's
ELFs too (objdump as the oracle for the decoding), and one-line errors for what it cannot
read."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def kasm(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kasm", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_disasm_of_an_elf_shows_labels_source_lines_and_instructions(tmp_path: Path):
    assert kasm("build", "examples/hello.S", "-o", f"{tmp_path}/").returncode == 0
    r = kasm("disasm", str(tmp_path / "hello.elf"))
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == f"{tmp_path}/hello.elf: 16-bit code (real mode), entry 0x1000"
    assert lines[2:7] == [".text:", "_start:", "examples/hello.S:6:  mov $message, %si",
                          "      1000:  be 0f 10                  movw $0x100f, %si",
                          "print_loop:"]
    assert lines[-3:] == ["done:", "examples/hello.S:15:  hlt",
                          "      100e:  f4                        hlt"]


def test_disasm_of_a_bin_takes_mode_and_base(tmp_path: Path):
    (tmp_path / "x.bin").write_bytes(bytes.fromhex("48c7c001000000f4"))
    r = kasm("disasm", str(tmp_path / "x.bin"), "--mode", "long", "--base", "0x2000")
    assert r.stdout.splitlines()[3:] == [
        "      2000:  48 c7 c0 01 00 00 00      movq $1, %rax",
        "      2007:  f4                        hlt"]


def test_disasm_reads_gnu_elfs_with_the_same_decoding_as_objdump(tmp_path: Path, binutils):
    if shutil.which("objdump") is None:
        pytest.skip("objdump missing")
    (tmp_path / "g.s").write_text(".code32\n.globl _start\n_start: movl $1, %eax\n"
                                  "loop: decl %eax\n jnz loop\n hlt\n")
    subprocess.run(["as", "--32", "-g", "-o", "g.o", "g.s"], cwd=tmp_path, check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-Ttext=0x1000", "-o", "g.elf", "g.o"],
                   cwd=tmp_path, check=True)
    ours = kasm("disasm", "g.elf", cwd=tmp_path).stdout
    theirs = subprocess.run(["objdump", "-d", "g.elf"], cwd=tmp_path, capture_output=True,
                            text=True).stdout
    assert "g.s:4:  loop: decl %eax" in ours and "loop:" in ours
    for address in ("1000", "1005", "1006", "1008"):
        assert f"    {address}:" in theirs and f"      {address}:" in ours


@pytest.mark.parametrize(("name", "content", "message"), [
    ("x.elf", b"garbage", "kasm: error: x.elf: not an ELF file\n"),
    ("x.elf", b"\x7fELF\x01\x01\x01" + bytes(9), "kasm: error: x.elf: not a little-endian "
                                                  "32- or 64-bit ELF file\n"),
    ("x.S", b".code16\nhlt\n", "kasm: error: x.S: give an .elf or a .bin image (kasm build "
                               "makes both)\n"),
])
def test_what_disasm_cannot_read_is_a_one_line_error(tmp_path: Path, name: str,
                                                     content: bytes, message: str):
    (tmp_path / name).write_bytes(content)
    r = kasm("disasm", name, cwd=tmp_path)
    assert (r.returncode, r.stderr) == (1, message)

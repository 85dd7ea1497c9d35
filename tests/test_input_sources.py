"""Where a source can come from: a file, stdin (`-`), a pipe, /dev/stdin, `<(...)`, a FIFO.

Each is read once, with the build cache on (a cache lookup that read the source first left
the build an empty pipe), and a file that is not text is refused before assembling."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kasm.elfread import read_elf

ROOT = Path(__file__).resolve().parent.parent
HELLO = '#include <hypercall.h>\n.code16\n_start:\n    hc_print "hi"\n    hlt\n'
# Prints what it reads (its input), then "|end".
ECHO = """#include <hypercall.h>
.code16
_start:
1:  hc_getchar 2f
    hc_putchar %al
    jmp 1b
2:  hc_print "|end"
    hlt
"""
KASM = f"{shlex.quote(sys.executable)} -m kasm"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The cache on, in a directory of this test's own."""
    e = {k: v for k, v in os.environ.items() if k != "KASM_NO_CACHE"}
    e["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return e


def sh(command: str, cwd: Path, env: dict[str, str], **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=60, **kw)  # type: ignore[call-overload]


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    src = tmp_path / "t.S"
    src.write_text(HELLO)
    return src


@pytest.mark.parametrize("command", [
    "cat t.S | {kasm} run /dev/stdin",
    "{kasm} run <(cat t.S)",
    "cat t.S | {kasm} run -",
    "{kasm} run - < t.S",
    "cat t.S | {kasm} run --mem 2M -",
])
def test_a_source_that_can_be_read_once_builds_and_runs(command, hello, env, kvm_device):
    for _ in range(2):  # the second time with the cache filled
        r = sh(command.format(kasm=KASM), hello.parent, env)
        assert (r.returncode, r.stdout, r.stderr) == (0, "hi", "")


def test_a_fifo_is_read_once_and_does_not_hang(hello, env, kvm_device):
    fifo = hello.parent / "fifo.S"
    os.mkfifo(fifo)
    for _ in range(2):
        writer = threading.Thread(target=lambda: fifo.write_text(HELLO), daemon=True)
        writer.start()
        r = sh(f"{KASM} run fifo.S", hello.parent, env)
        writer.join(5)
        assert (r.returncode, r.stdout, r.stderr) == (0, "hi", "")


def test_guest_reading_the_stdin_its_source_came_from_sees_end_of_input(tmp_path, env,
                                                                        kvm_device):
    (tmp_path / "echo.S").write_text(ECHO)
    r = sh(f"cat echo.S | {KASM} run -", tmp_path, env)
    assert (r.returncode, r.stdout) == (0, "|end")
    r = sh(f"{KASM} run echo.S <<< 'typed'", tmp_path, env)  # stdin not the source: it reads
    assert (r.returncode, r.stdout) == (0, "typed\n|end")


def test_build_from_stdin_needs_an_output_name(hello, env):
    r = sh(f"cat t.S | {KASM} build -", hello.parent, env)
    assert r.returncode == 2
    assert r.stderr.endswith("Error: Invalid value for '-o': stdin has no name to give the "
                             "output: name it with -o FILE\n")
    r = sh(f"{KASM} build <(cat t.S)", hello.parent, env)
    assert r.returncode == 2
    assert "/dev/fd/63, not a regular file, has no name to give the output" in r.stderr


def test_build_from_stdin_with_output_name(hello, env):
    r = sh(f"cat t.S | {KASM} build - -o out/prog.bin", hello.parent, env)
    assert r.returncode == 1 and r.stderr == (
        "kasm: error: cannot write out/prog.bin: No such file or directory\n")
    (hello.parent / "out").mkdir()
    r = sh(f"cat t.S | {KASM} build -o out/prog.bin -", hello.parent, env)
    assert (r.returncode, r.stderr) == (0, "")
    assert sh(f"{KASM} build t.S", hello.parent, env).returncode == 0
    out = hello.parent / "out"
    assert (out / "prog.bin").read_bytes() == hello.with_suffix(".bin").read_bytes()
    piped, named = (read_elf(p.read_bytes())[0] for p in (out / "prog.elf",
                                                           hello.with_suffix(".elf")))
    assert (piped.sections, piped.symbols) == (named.sections, named.symbols)
    assert (piped.lines.files, named.lines.files) == (["<stdin>"], ["t.S"])  # DWARF names


def test_errors_in_stdin_source_are_located_in_stdin(tmp_path, env):
    (tmp_path / "bad.S").write_text(".code16\nmovx %ax, %bx\n")
    r = sh(f"cat bad.S | {KASM} run -", tmp_path, env)
    assert r.returncode == 1
    assert r.stderr.startswith("<stdin>:2:1: error: ")
    assert r.stderr.endswith("\n movx %ax, %bx\n ^\n")


@pytest.fixture
def elf_object(tmp_path: Path, binutils) -> Path:
    (tmp_path / "x.s").write_text(".code16\nhlt\n")
    subprocess.run(["as", "--32", "x.s", "-o", "x.o"], cwd=tmp_path, check=True)
    return tmp_path / "x.o"


def test_an_elf_file_as_source_is_refused_before_assembling(elf_object, env):
    r = sh(f"{KASM} build x.o", elf_object.parent, env)
    assert (r.returncode, r.stdout, r.stderr) == (
        1, "", "kasm: error: x.o: this is an ELF file, not assembly source\n")


def test_an_elf_object_file_to_run_is_an_image_that_needs_linking(elf_object, env):
    """kasm run tells an ELF by its magic, as vmm does; an object file is no executable."""
    r = sh(f"{KASM} run x.o", elf_object.parent, env)
    assert (r.returncode, r.stdout, r.stderr) == (
        3, "", "kasm: error: x.o: an ELF REL file, not an executable: link it first (kasm "
        "build writes an executable ELF)\n")


@pytest.mark.parametrize("content", [
    b"\xf4\x00\x00\xeb\xfe",  # a flat image: NUL bytes
    bytes(range(0x80, 0x100)) * 4,  # no NUL, but not text
])
def test_a_binary_file_as_source_is_refused(content, tmp_path, env):
    (tmp_path / "image.S").write_bytes(content)
    for command in ("build", "run"):
        r = sh(f"{KASM} {command} image.S", tmp_path, env)
        assert (r.returncode, r.stderr) == (
            1, "kasm: error: image.S: this is a binary file, not assembly source\n")
    r = sh(f"{KASM} run - < image.S", tmp_path, env)
    assert r.stderr == "kasm: error: <stdin>: this is a binary file, not assembly source\n"


def test_a_flat_image_given_to_build_is_refused_for_what_it_is(hello, env):
    assert sh(f"{KASM} build t.S", hello.parent, env).returncode == 0
    for image, what in (("t.bin", "a binary"), ("t.elf", "an ELF")):
        r = sh(f"{KASM} build {image}", hello.parent, env)
        assert (r.returncode, r.stderr) == (
            1, f"kasm: error: {image}: this is {what} file, not assembly source\n")


def test_a_few_bytes_in_another_encoding_are_still_source(tmp_path, env, kvm_device):
    (tmp_path / "latin1.S").write_bytes(b'.code16\n_start: hlt  # caf\xe9\n.ascii "\xe9"\n')
    r = sh(f"{KASM} run latin1.S", tmp_path, env)
    assert (r.returncode, r.stderr) == (0, "")

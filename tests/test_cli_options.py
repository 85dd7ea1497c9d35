"""Options of `kasm build` / `kasm run` that reach into the build and the output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {"PATH": "/usr/bin:/bin", "KASM_NO_CACHE": "1"}


def kasm(*args: str, cwd: Path, stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kasm", *args], cwd=cwd, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=ENV,
                          timeout=60)


def test_include_dir_serves_include_incbin_and_cpp_include(runs_guests, tmp_path):
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "chars.inc").write_text("    hc_putchar $'A'\n")
    (inc / "blob.bin").write_bytes(b"Z")
    (inc / "defs.h").write_text("#define LETTER 'C'\n")
    (tmp_path / "prog.S").write_text(
        '#include <hypercall.h>\n#include "defs.h"\n.code16\n_start:\n'
        '    .include "chars.inc"\n    movb blob, %al\n    hc_putchar %al\n'
        '    hc_putchar $LETTER\n    hc_exit $0\nblob: .incbin "blob.bin"\n')
    r = kasm("run", "-I", "inc", "prog.S", cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "AZC", "")
    r = kasm("build", "-I", str(inc), "prog.S", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "prog.bin").exists()


def test_missing_include_through_include_dir_is_a_located_error(tmp_path):
    (tmp_path / "inc").mkdir()
    (tmp_path / "t.s").write_text('.code16\n.include "nowhere.inc"\nhlt\n')
    r = kasm("build", "-I", "inc", "t.s", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("t.s:2:10: error: include file 'nowhere.inc' not found")


def test_unwritable_guest_output_is_one_line_and_exit_3(runs_guests):
    with open("/dev/full", "w") as full:
        r = kasm("run", "examples/hello.S", cwd=ROOT, stdout=full)
    assert r.returncode == 3
    assert r.stderr == "kasm: cannot write the guest's output: No space left on device\n"

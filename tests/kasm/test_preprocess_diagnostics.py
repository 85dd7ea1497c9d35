"""C preprocessor diagnostics as cpp gives them: `#warning` is a located warning, `#error` and
`#if` errors are located errors, each with its source line and a caret at the directive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kasm.build import build_file
from kasm.diagnostics import SourceError


def diagnostics(path: Path) -> list[str]:
    try:
        result = build_file(path)
    except SourceError as e:
        return [d.format() for d in e.diagnostics]
    return [w.format() for w in result.warnings]


def test_warning_is_located_with_caret_and_the_build_goes_on(tmp_path):
    src = tmp_path / "w.S"
    src.write_text("#warning careful here\n.code16\n_start: hlt\n")
    assert diagnostics(src) == [
        f"{src}:1:2: warning: #warning careful here\n #warning careful here\n  ^"]
    assert build_file(src).image.flat() == b"\xf4"


def test_warning_in_a_false_branch_is_silent(tmp_path):
    src = tmp_path / "w.S"
    src.write_text("#if 0\n#warning no\n#error no\n#endif\n.code16\n_start: hlt\n")
    assert diagnostics(src) == []


@pytest.mark.parametrize(("line", "col", "message"), [
    ("  #  error  boom  now", 6, "#error boom  now"),
    ("#if 1 +", 2, "#if: cannot evaluate '1 +': syntax error at its end"),
    ("#if (1", 2, "#if: cannot evaluate '(1': syntax error at its end"),
    ("#if 1 / 0", 2, "#if: cannot evaluate '1 / 0': division by zero"),
    ("#if", 2, "#if with no expression"),
    ("#elif 1", 2, "#elif without #if"),
    ("#else", 2, "#else without #if"),
])
def test_errors_are_located_at_the_directive_with_caret(line, col, message, tmp_path):
    src = tmp_path / "e.S"
    closing = "\n#endif" if line.startswith(("#if", "  #  error")) else ""
    src.write_text(f".code16\n{line}{closing}\n_start: hlt\n")
    found = diagnostics(src)
    assert found[0] == f"{src}:2:{col}: error: {message}\n {line}\n " + " " * (col - 1) + "^"


def test_every_error_is_reported_after_the_warnings_before_them(tmp_path):
    src = tmp_path / "m.S"
    src.write_text("#warning first\n#error one\n#if 1/0\n#endif\n#error two\n")
    found = [d.split("\n")[0] for d in diagnostics(src)]
    assert found == [f"{src}:1:2: warning: #warning first", f"{src}:2:2: error: #error one",
                     f"{src}:3:2: error: #if: cannot evaluate '1/0': division by zero",
                     f"{src}:5:2: error: #error two"]


def test_directive_in_an_included_file_shows_that_files_line(tmp_path):
    (tmp_path / "inc.h").write_text("\n#warning from the header\n")
    src = tmp_path / "main.S"
    src.write_text('#include "inc.h"\n.code16\n_start: hlt\n')
    (found,) = diagnostics(src)
    location, line, caret = found.split("\n")
    assert location.endswith("inc.h:2:2: warning: #warning from the header")
    assert (line, caret) == (" #warning from the header", "  ^")


def test_kasm_prints_the_warning_and_still_builds(tmp_path):
    src = tmp_path / "w.S"
    src.write_text("#warning careful\n.code16\n_start: hlt\n")
    r = subprocess.run([sys.executable, "-m", "kasm", "build", "w.S"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stderr) == (0, "w.S:1:2: warning: #warning careful\n"
                                           " #warning careful\n  ^\n")


def test_files_are_named_as_the_user_named_them(tmp_path):
    """An absolute source path stays absolute (pcpp made /tmp/x.S ../../../tmp/x.S); an
    included file is named through the include directory as given."""
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "h.h").write_text("movx %ax, %bx\n")
    src = tmp_path / "z.S"
    src.write_text('#include "h.h"\n.code16\nmovy %ax, %bx\n')

    def first_lines(*args: str, cwd: Path) -> list[str]:
        r = subprocess.run([sys.executable, "-m", "kasm", "build", *args], cwd=cwd,
                           capture_output=True, text=True, timeout=60)
        return [line for line in r.stderr.splitlines() if ": error: " in line]

    assert first_lines("-I", "inc", str(src), cwd=tmp_path) == [
        "inc/h.h:1:1: error: unknown instruction 'movx'",
        f"{src}:3:1: error: unknown instruction 'movy'"]
    assert first_lines("-I", str(tmp_path / "inc"), "z.S", cwd=tmp_path) == [
        f"{tmp_path}/inc/h.h:1:1: error: unknown instruction 'movx'",
        "z.S:3:1: error: unknown instruction 'movy'"]

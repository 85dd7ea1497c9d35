"""The build cache behind `kasm run`/`kasm build`: a hit must give the same image as a build, and
any change to the source, an included file or the options must miss."""

from __future__ import annotations

from pathlib import Path

import pytest

from kasm import cache
from kasm.build import build_file

SOURCE = """\
#include "consts.h"
.code16
.globl _start
_start:
    mov $VALUE, %ax
    .include "more.inc"
    hlt
"""


@pytest.fixture(autouse=True)
def _cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("KASM_NO_CACHE", raising=False)
    return tmp_path / "xdg"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "proj"
    d.mkdir()
    (d / "consts.h").write_text("#define VALUE 42\n")
    (d / "more.inc").write_text("    mov $7, %bx\n")
    p = d / "prog.S"
    p.write_text(SOURCE)
    return p


def _build_and_store(path: Path, base: int = 0x1000) -> bytes:
    ticket = cache.lookup(path, base, [], {})
    assert ticket is not None and ticket.hit is None
    result = build_file(path, base=base)
    cache.store(ticket, result)
    return result.image.flat()


def _hit(path: Path, base: int = 0x1000):  # noqa: ANN202
    ticket = cache.lookup(path, base, [], {})
    assert ticket is not None
    return ticket.hit


def test_hit_returns_the_same_image(src: Path) -> None:
    flat = _build_and_store(src)
    hit = _hit(src)
    assert hit is not None
    assert hit.image.flat() == flat
    fresh = build_file(src).image
    assert (hit.image.entry, hit.image.mode) == (fresh.entry, fresh.mode)
    assert [(s.name, s.value) for s in hit.image.symbols] == \
        [(s.name, s.value) for s in fresh.symbols]


def test_miss_after_source_edit(src: Path) -> None:
    _build_and_store(src)
    src.write_text(SOURCE.replace("hlt", "nop\n    hlt"))
    assert _hit(src) is None


def test_miss_after_an_included_file_changes(src: Path) -> None:
    _build_and_store(src)
    (src.parent / "consts.h").write_text("#define VALUE 43\n")
    assert _hit(src) is None
    _build_and_store(src)
    (src.parent / "more.inc").write_text("    mov $8, %bx\n")
    assert _hit(src) is None


def test_miss_for_other_options(src: Path) -> None:
    _build_and_store(src)
    assert _hit(src, base=0x2000) is None
    ticket = cache.lookup(src, 0x1000, [], {"EXTRA": "1"})
    assert ticket is not None and ticket.hit is None


def test_corrupt_entry_is_ignored(src: Path, _cache_home: Path) -> None:
    _build_and_store(src)
    (entry,) = (_cache_home / "kasm").glob("*.bin")
    data = entry.read_bytes()
    entry.write_bytes(data[:-3] + b"xyz")  # payload checksum no longer matches
    assert _hit(src) is None
    entry.write_bytes(b"garbage")
    assert _hit(src) is None
    _build_and_store(src)  # and a fresh build replaces it
    assert _hit(src) is not None


def test_unwritable_cache_is_silent(src: Path, _cache_home: Path) -> None:
    _cache_home.write_text("a file where the cache directory should be")
    _build_and_store(src)  # no error
    assert _hit(src) is None


def test_warnings_are_kept(src: Path) -> None:
    ticket = cache.lookup(src, 0x1000, [], {})
    result = build_file(src)
    result.warnings.append(type("W", (), {"format": lambda self: "prog.S:1:1: warning: x"})())
    cache.store(ticket, result)
    hit = _hit(src)
    assert hit is not None and hit.warnings == ["prog.S:1:1: warning: x"]


def test_disabled_by_environment(src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _build_and_store(src)
    monkeypatch.setenv("KASM_NO_CACHE", "1")
    assert cache.lookup(src, 0x1000, [], {}) is None


def test_cli_run_hit_shows_warnings_and_same_output(tmp_path: Path) -> None:
    """`kasm run` twice: the second run is served from the cache, with the same warning."""
    import os
    import subprocess
    import sys

    p = tmp_path / "warn.S"
    p.write_text(".code16\n.globl _start\n_start:\n    mov $'A', %al\n"
                 "    mov $0x3f8, %dx\n    out %al, (%dx)\n    hlt\n    .byte 0x1ff\n")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    env.pop("KASM_NO_CACHE", None)
    runs = [subprocess.run([sys.executable, "-m", "kasm", "run", str(p)], capture_output=True,
                           text=True, env=env, timeout=60) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0]
    assert runs[0].stdout == runs[1].stdout == "A"
    assert "warning" in runs[0].stderr
    assert runs[1].stderr == runs[0].stderr
    assert len(list((tmp_path / "xdg" / "kasm").glob("*.bin"))) == 1


def test_miss_when_a_new_file_would_shadow_an_include(tmp_path: Path) -> None:
    proj, lib = tmp_path / "proj", tmp_path / "lib"
    proj.mkdir()
    lib.mkdir()
    (lib / "defs.h").write_text("#define VALUE 1\n")
    p = proj / "prog.S"
    p.write_text('#include "defs.h"\n.code16\n_start:\n    mov $VALUE, %ax\n    hlt\n')
    ticket = cache.lookup(p, 0x1000, [lib], {})
    assert ticket is not None
    cache.store(ticket, build_file(p, include_dirs=[lib]))
    assert cache.lookup(p, 0x1000, [lib], {}).hit is not None
    (proj / "defs.h").write_text("#define VALUE 2\n")  # the source's directory is searched first
    assert cache.lookup(p, 0x1000, [lib], {}).hit is None


def test_entry_from_another_key_with_the_same_name_is_a_miss(src: Path, _cache_home) -> None:
    _build_and_store(src)
    (entry,) = (_cache_home / "kasm").glob("*.bin")
    other = src.parent / "other.S"
    other.write_text(SOURCE)
    ticket = cache.lookup(other, 0x1000, [], {})
    entry.rename(_cache_home / "kasm" / ticket.entry)  # as if the checksums collided
    assert cache.lookup(other, 0x1000, [], {}).hit is None


def test_miss_when_a_new_file_would_shadow_a_nested_include(tmp_path: Path) -> None:
    """`sub/a.h` includes "b.h" from -I inc; a new sub/b.h, beside a.h, would win."""
    proj, inc = tmp_path / "proj", tmp_path / "inc"
    (proj / "sub").mkdir(parents=True)
    inc.mkdir()
    (proj / "sub" / "a.h").write_text('#include "b.h"\n')
    (inc / "b.h").write_text("#define VAL 1\n")
    p = proj / "main.S"
    p.write_text('#include "sub/a.h"\n.code16\n_start:\n    mov $VAL, %ax\n    hlt\n')
    ticket = cache.lookup(p, 0x1000, [inc], {})
    cache.store(ticket, build_file(p, include_dirs=[inc]))
    assert cache.lookup(p, 0x1000, [inc], {}).hit is not None
    (proj / "sub" / "b.h").write_text("#define VAL 2\n")
    assert cache.lookup(p, 0x1000, [inc], {}).hit is None


def test_symlinked_sources_in_different_directories_do_not_share_an_entry(tmp_path: Path) -> None:
    real = tmp_path / "real.s"
    real.write_text('.code16\n_start:\n    .include "defs.inc"\n    hlt\n')
    images = []
    for name, value in (("d1", 1), ("d2", 2)):
        d = tmp_path / name
        d.mkdir()
        (d / "defs.inc").write_text(f"    mov ${value}, %ax\n")
        (d / "prog.s").symlink_to(real)
        ticket = cache.lookup(d / "prog.s", 0x1000, [], {})
        assert ticket is not None and ticket.hit is None
        result = build_file(d / "prog.s")
        cache.store(ticket, result)
        images.append(result.image.flat())
    assert images[0] != images[1]
    for i, name in enumerate(("d1", "d2")):
        assert _hit(tmp_path / name / "prog.s").image.flat() == images[i]


def test_a_build_whose_input_changed_meanwhile_is_not_stored(src: Path) -> None:
    import os
    import time

    ticket = cache.lookup(src, 0x1000, [], {})
    result = build_file(src)
    later = time.time_ns() + 10**9
    os.utime(src.parent / "consts.h", ns=(later, later))  # edited while the build ran
    cache.store(ticket, result)
    assert _hit(src) is None


def test_key_covers_every_module_of_kasm() -> None:
    """A change to any of kasm's modules (subpackages too) must miss."""
    package = Path(cache.__file__).parent
    keyed = {part.split(":")[0] for part in cache.code_version().split("|")}
    modules = {str(p.relative_to(package)) for p in package.rglob("*.py")
               if "__pycache__" not in p.parts}
    assert modules <= keyed, modules - keyed

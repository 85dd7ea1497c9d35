"""A reservation of zeros (`.skip`, `.space`, `.zero`, `.fill`, `.org`) is a size, not bytes,
from the streamer to the cache and the output files: only writing a flat image costs per byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from gnu_oracle import gnu_image

from kasm import cache
from kasm.build import build_file, build_source
from kasm.contents import SPARSE_ZEROS, Contents
from kasm.elf import elf_contents, write_elf

HUGE = 0x10000000  # 256 MiB: as bytes, several gigabytes of copies and ~20 s to build


def zero_runs(contents: Contents) -> list[int]:
    return [p for p in contents.pieces() if isinstance(p, int)]


@pytest.mark.parametrize("directive", [f".skip {HUGE}", f".space {HUGE}", f".zero {HUGE}",
                                       f".fill {HUGE}, 1, 0", f".fill {HUGE // 4}, 4, 0",
                                       f".org {HUGE + 1}"])
def test_a_huge_reservation_of_zeros_stays_a_size_in_the_image(directive: str) -> None:
    image = build_source(f".code16\n_start: hlt\n{directive}\n    hlt\n.data\n.long 5\n").image
    text = image.section(".text")
    assert text is not None and text.size == HUGE + 2
    assert zero_runs(text.data) == [HUGE]
    flat = image.flat_contents()
    assert len(flat) == HUGE + 2 + 4 and zero_runs(flat) == [HUGE]


def test_zeros_in_data_and_alignment_padding_stay_sizes_too() -> None:
    image = build_source(".code16\n_start: hlt\n.data\n.byte 1\n.balign 0x100000\n"
                         "x: .skip 0x300000\n.byte 2\n").image
    data = image.section(".data")
    assert data is not None and zero_runs(data.data) == [0xFFFFF + 0x300000]
    assert bytes(data.data)[-1] == 2 and len(data.data) == 0x400001


def test_labels_across_a_sparse_run_are_constants_while_parsing() -> None:
    # GNU: a .space of known size keeps label differences constant (`.if`, `.rept`)
    image = build_source(".code16\n_start: hlt\na:\n.skip 0x20000\nb:\n"
                         ".if b - a == 0x20000\n.byte 1\n.endif\n").image
    assert image.flat()[-1] == 1


def test_the_flat_image_and_elf_are_the_bytes_gnu_writes(tmp_path: Path, binutils: None
                                                         ) -> None:
    source = (".code32\n_start: jmp end\n.skip 0x23456\nend: hlt\n.org 0x40000\nhlt\n"
              ".data\nv: .long end\n.fill 0x20000, 1, 0\n.byte 3\n")
    image = build_source(source).image
    assert zero_runs(image.flat_contents()) != []
    flat = image.flat()
    assert flat == gnu_image(source)
    assert write_elf(image) == bytes(elf_contents(image))
    path = tmp_path / "p.bin"
    with open(path, "wb") as f:
        image.flat_contents().write_to(f)
    assert path.read_bytes() == flat


def test_contents_patch_and_compare_like_bytes() -> None:
    c = Contents(b"ab")
    c.append_zeros(SPARSE_ZEROS)
    c.append(b"cd")
    c.patch(SPARSE_ZEROS + 2, b"XY")
    c.patch(0, b"Z")
    expected = b"Zb" + bytes(SPARSE_ZEROS) + b"XY"
    assert c == expected and bytes(c) == expected and len(c) == len(expected)
    assert Contents.from_pieces(c.pieces()) == c
    c.patch(1, b"QR")  # into the run of zeros: correct, if no longer sparse
    assert bytes(c) == b"ZQR" + bytes(SPARSE_ZEROS - 1) + b"XY"
    with pytest.raises(TypeError):
        Contents.from_pieces(["text"])  # type: ignore[list-item]


def test_the_cache_keeps_a_reservation_as_a_size(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("KASM_NO_CACHE", raising=False)
    src = tmp_path / "big.s"
    src.write_text(f".code16\n_start: hlt\n.skip {HUGE}\n    hlt\n")
    ticket = cache.lookup(src, 0x1000, [], {})
    assert ticket is not None and ticket.hit is None
    cache.store(ticket, build_file(src))
    [entry] = (tmp_path / "xdg").rglob("*.bin")
    assert entry.stat().st_size < 4096
    hit = cache.lookup(src, 0x1000, [], {}).hit
    assert hit is not None and zero_runs(hit.image.section(".text").data) == [HUGE]


def test_run_refuses_a_huge_program_for_its_memory_before_building_bytes(tmp_path: Path) -> None:
    (tmp_path / "big.s").write_text(f".code16\n_start: hlt\n.skip {HUGE}\n")
    r = subprocess.run([sys.executable, "-m", "kasm", "run", "big.s"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60,
                       env={"KASM_NO_CACHE": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1
    assert "the program needs memory up to 0x10001001" in r.stderr

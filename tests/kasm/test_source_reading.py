"""Source files are bytes, as GNU as reads them: any encoding, a BOM, CRLF line ends."""

from __future__ import annotations

from kasm.build import build_file


def test_non_utf8_bytes_in_strings_and_characters_come_out_unchanged(tmp_path):
    src = tmp_path / "cp437.s"
    src.write_bytes(b'.code16\n_start: hlt\n.ascii "\xb0\xb1\xdb"\n.byte \'\xb2\n')
    assert build_file(src).image.flat() == b"\xf4\xb0\xb1\xdb\xb2"


def test_utf8_text_in_strings_is_utf8(tmp_path):
    src = tmp_path / "utf8.s"
    src.write_text('.code16\n_start: hlt\n.ascii "µs"\n', encoding="utf-8")
    assert build_file(src).image.flat() == b"\xf4" + "µs".encode()


def test_byte_order_mark_and_crlf_line_ends_are_accepted(tmp_path):
    src = tmp_path / "dos.S"
    src.write_bytes(b'\xef\xbb\xbf#define N 2\r\n.code16\r\n_start: hlt\r\n.byte N\r\n')
    assert build_file(src).image.flat() == b"\xf4\x02"


def test_included_file_with_non_utf8_bytes(tmp_path):
    (tmp_path / "data.inc").write_bytes(b'.ascii "\xfe"\n')
    src = tmp_path / "main.s"
    src.write_bytes(b'.code16\n_start: hlt\n.include "data.inc"\n')
    assert build_file(src).image.flat() == b"\xf4\xfe"

"""GNU's NOP fill for code alignment (binutils 2.40).

GNU picks the table by the .code mode in force at the END of the file, not where the padding
is: f16_patt, f32_patt (as --32), or for a file that ends in .code64 the long-mode table of
`as --64` (alt_patt). `as --32` would pad 64-bit code with `8d 74 26 00`, which in long mode
truncates RSI: kasm follows `as --64` there, and the fidelity tests compare such files with it.
"""

from __future__ import annotations

_NOPS16 = [b"\x90", b"\x66\x90", b"\x8d\x74\x00", b"\x8d\xb4\x00\x00"]
_NOPS32 = [b"\x90", b"\x66\x90", b"\x8d\x76\x00", b"\x8d\x74\x26\x00", None,
           b"\x8d\xb6\x00\x00\x00\x00", b"\x8d\xb4\x26\x00\x00\x00\x00"]
_NOPS64 = [bytes.fromhex(h) for h in (
    "90", "6690", "0f1f00", "0f1f4000", "0f1f440000", "660f1f440000", "0f1f8000000000",
    "0f1f840000000000", "660f1f840000000000", "662e0f1f840000000000",
    "66662e0f1f840000000000")]
# (table, longest NOP used, most NOPs before GNU jumps over the padding instead)
_NOP_TABLES = {16: (_NOPS16, 4, 2), 32: (_NOPS32, 7, 2), 64: (_NOPS64, 11, 7)}


def nop_fill(count: int, final_bits: int, limit: int = 0) -> bytes:
    """Padding of `count` bytes exactly as GNU as 2.40 writes it into code sections (no NOP
    longer than `limit` bytes, for `.nops`)."""
    if count <= 0:
        return b""
    patt, size, max_nops = _NOP_TABLES[final_bits]
    out = bytearray()
    if count // size > max_nops:
        disp = count - 2
        if disp <= 127:
            out += bytes([0xEB, disp])
            count = disp
        elif final_bits == 16:
            count -= 6
            out += b"\x66\xe9" + count.to_bytes(4, "little")
        else:
            count -= 5
            out += b"\xe9" + count.to_bytes(4, "little")
    if limit:
        size = min(size, limit)
        while patt[size - 1] is None:
            size -= 1
    longest = patt[size - 1]
    assert longest is not None
    last = count % size
    out += longest * (count // size)
    if last:
        nop = patt[last - 1]
        out += nop if nop is not None else patt[last - 2] + patt[0]
    return bytes(out)


def longest_nop(final_bits: int) -> int:
    """The longest single NOP GNU writes in code of the file's final mode."""
    return _NOP_TABLES[final_bits][1]


def linker_fill(count: int, final_bits: int) -> bytes:
    """ld's fill of a gap between input sections of code (bfd's i386/x86-64 fill): the 2-byte
    NOP (elf_i386) or the 10-byte one (elf_x86_64) over and over, then one NOP for the rest."""
    if count <= 0:
        return b""
    size = 10 if final_bits == 64 else 2
    rest = count % size
    return _NOPS64[size - 1] * (count // size) + (_NOPS64[rest - 1] if rest else b"")

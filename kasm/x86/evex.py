"""EVEX encodings as GNU writes them, where keystone departs (measured against GNU as 2.40):

- keystone writes EVEX for some instructions that have a VEX form (scalar arithmetic with a
  memory operand: `vaddsd (%ecx),%xmm6,%xmm2` is 62 f1 cf 08 58 11, GNU's c5 cb 58 11), which
  raises #UD on a CPU without AVX-512. With no EVEX-only feature in use, kasm writes the VEX
  form, GNU's choice; which W the VEX form takes (ignored or meaningful) capstone decides.
- keystone does not compress an EVEX disp8 (disp8*N): `vmovaps 0x40(%rax),%zmm0` got a disp8
  of 0x40, which the CPU scales by 64. kasm encodes the displacement as a disp32 and then
  compresses it as GNU does when it is a multiple of N that fits: N (the tuple type's
  scale) is found by asking capstone what a compressed disp8 of 1 decodes to.
"""

from __future__ import annotations

from .disassembler import Disassembler

_LEGACY = frozenset((0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3))


def evex_at(code: bytes, bits: int) -> int | None:
    """Where the 62 of an EVEX prefix is (after legacy prefixes), or None for no EVEX."""
    at = 0
    while at < len(code) and code[at] in _LEGACY:
        at += 1
    if at + 5 < len(code) and code[at] == 0x62 and (bits == 64 or code[at + 1] >= 0xC0):
        return at
    return None


def needs_evex(code: bytes, at: int) -> bool:
    """Whether the EVEX encoding at `at` uses what VEX cannot say: registers 16-31, a mask,
    zeroing, broadcast/rounding, or a 512-bit vector."""
    p0, p2, modrm = code[at + 1], code[at + 3], code[at + 5]
    high_reg = not p0 & 0x10 or not p2 & 0x08  # R', V' (stored inverted)
    high_rm = modrm >> 6 == 3 and not p0 & 0x40  # X extends a register rm
    return high_reg or high_rm or bool(p2 & 0x80) or bool(p2 & 0x10) or bool(p2 & 0x07) \
        or (p2 >> 5) & 3 >= 2


def _vex(code: bytes, at: int, w: int) -> bytes:
    """The VEX form of the EVEX encoding at `at` with W = `w` (the 2-byte VEX when it can)."""
    p0, p1, p2 = code[at + 1], code[at + 2], code[at + 3]
    rxb, mm = p0 & 0xE0, p0 & 0x03
    vvvv, pp, length = (p1 >> 3) & 0xF, p1 & 3, (p2 >> 5) & 1
    if w == 0 and rxb & 0x60 == 0x60 and mm == 1:
        prefix = bytes([0xC5, (rxb & 0x80) | vvvv << 3 | length << 2 | pp])
    else:
        prefix = bytes([0xC4, rxb | mm, w << 7 | vvvv << 3 | length << 2 | pp])
    return code[:at] + prefix + code[at + 4:]


def as_vex(code: bytes, at: int, bits: int, disasm: Disassembler) -> bytes | None:
    """GNU's VEX encoding of the EVEX one at `at`, or None when the instruction has no VEX
    form: the VEX bytes must decode to the same instruction and operands (a disp8 compares
    as zero, since EVEX scales it). W0 first, as GNU writes a W-ignored instruction."""
    plain = bytearray(code)
    if plain[at + 5] >> 6 == 1:  # a disp8 after ModRM (and SIB)
        sib = plain[at + 5] & 7 == 4
        plain[at + 6 + sib] = 0
    want = disasm.decode(bytes(plain), bits)
    if want is None:
        return None
    for w in (0, 1):
        found = disasm.decode(_vex(bytes(plain), at, w), bits)
        if found is not None and found[:2] == want[:2]:
            return _vex(code, at, w)
    return None


def disp8_scale(code: bytes, at: int, field: int, bits: int, disasm: Disassembler) -> int | None:
    """N of the EVEX instruction at `at` whose disp32 starts at `field` (mod 10): what a
    compressed disp8 of 1 decodes to. None when capstone cannot say."""
    trial = _compressed(code, at, field, 1)
    decoded = disasm.decode(trial, bits)
    if decoded is None:
        return None
    for text in decoded[1].split(", "):
        if "(" in text:
            number = text.split("(")[0].split(":")[-1]
            try:
                return int(number, 0) if number else None
            except ValueError:
                return None
    return None


def _compressed(code: bytes, at: int, field: int, disp8: int) -> bytes:
    modrm = at + 5
    out = bytearray(code[:field] + bytes([disp8 & 0xFF]) + code[field + 4:])
    out[modrm] = (out[modrm] & 0x3F) | 0x40
    return bytes(out)

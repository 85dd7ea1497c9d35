"""Legacy prefixes: the bytes of prefixes written as mnemonics, and GNU's order for them."""

from __future__ import annotations

from ..instruction import PREFIXES

# GNU as emits legacy prefixes in this order (its i.prefix[] slots).
_PREFIX_SLOT = {0x9B: 0, 0x26: 1, 0x2E: 1, 0x36: 1, 0x3E: 1, 0x64: 1, 0x65: 1,
                0x67: 2, 0x66: 3, 0xF2: 4, 0xF3: 4, 0xF0: 5}

SEGMENT_BYTES = {"%es": 0x26, "%cs": 0x2E, "%ss": 0x36, "%ds": 0x3E, "%fs": 0x64, "%gs": 0x65}


def prefix_bytes(prefixes: tuple[str, ...], bits: int) -> bytes:
    """The bytes of prefix mnemonics; a size prefix that names the mode's own size has none."""
    out = bytearray()
    for p in prefixes:
        code = PREFIXES[p]
        if code == -16:
            code = 0x66 if bits != 16 else -1
        elif code == -32:
            code = 0x66 if bits == 16 else -1
        elif code == -116:
            code = 0x67 if bits != 16 else -1
        elif code == -132:
            code = 0x67 if bits != 32 else -1
        if code >= 0:
            out.append(code)
    return bytes(out)


def leading_prefixes(code: bytes) -> int:
    """How many legacy prefix bytes `code` starts with."""
    n = 0
    while n < len(code) and code[n] in _PREFIX_SLOT:
        n += 1
    return n


def in_gnu_order(code: bytes) -> bytes:
    """`code` with its leading prefixes in GNU's order (keystone has its own)."""
    n = leading_prefixes(code)
    if n < 2:
        return code
    return bytes(sorted(code[:n], key=_PREFIX_SLOT.__getitem__)) + code[n:]


def merge_prefixes(explicit: bytes, code: bytes) -> bytes:
    """Prefixes written as mnemonics (`rep es movsb`, `addr32 ...`) joined with the encoding's.

    GNU emits each prefix once, in its slot order, whatever order the source wrote them in;
    an `addr32` the operands already imply is not doubled.
    """
    if not explicit:
        return code
    n = leading_prefixes(code)
    run = list(dict.fromkeys(explicit + code[:n]))
    if all(b in _PREFIX_SLOT for b in run):
        run.sort(key=_PREFIX_SLOT.__getitem__)
    return bytes(run) + code[n:]

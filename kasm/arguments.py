"""A directive's arguments: comma-separated expressions, string literals, symbol names."""

from __future__ import annotations

import re

from . import expr
from .diagnostics import AsmError, Location
from .lexer import encode_source, split_arguments

NAME = re.compile(r"[A-Za-z_.$][\w.$@]*$")


def arguments(text: str, loc: Location, allow_empty: bool = True
              ) -> list[tuple[Location, str]]:
    """A directive's comma-separated arguments, each stripped, with where it starts."""
    if not text.strip():
        if not allow_empty:
            raise AsmError("expression expected", loc)
        return []
    out = []
    for start, part in split_arguments(text):
        lead = len(part) - len(part.lstrip())
        out.append((loc.with_col(loc.col + start + lead), part.strip()))
    return out


def strings(text: str, loc: Location) -> list[bytes]:
    """The string literals of a directive's arguments."""
    out: list[bytes] = []
    i = 0
    text = text.rstrip()
    while i < len(text):
        c = text[i]
        if c in " \t,":
            i += 1
            continue
        if c != '"':
            raise AsmError("expected a string in double quotes", loc.with_col(loc.col + i))
        s, i = parse_string(text, i, loc)
        out.append(s)
    if not out:
        raise AsmError("expected a string in double quotes", loc)
    return out


def parse_string(text: str, i: int, loc: Location) -> tuple[bytes, int]:
    """A GNU as string literal starting at text[i] == '"'; returns (bytes, index after)."""
    out = bytearray()
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == '"':
            return bytes(out), j + 1
        if c == "\\":
            j += 1
            if j >= len(text):
                break
            e = text[j]
            if e.isdigit():  # GNU reads up to 3 digits in base 8, even 8 and 9
                k, number = j, 0
                while k < len(text) and k < j + 3 and text[k].isdigit():
                    number = number * 8 + int(text[k])
                    k += 1
                out.append(number & 0xFF)
                j = k
                continue
            if e in "xX":
                k = j + 1
                while k < len(text) and text[k] in "0123456789abcdefABCDEF":
                    k += 1
                if k == j + 1:
                    raise AsmError("\\x used with no following hex digits",
                                   loc.with_col(loc.col + j))
                out.append(int(text[j + 1:k], 16) & 0xFF)
                j = k
                continue
            out += bytes([expr.STRING_ESCAPES[e]]) if e in expr.STRING_ESCAPES \
                else encode_source(e)
            j += 1
            continue
        out += encode_source(c)
        j += 1
    raise AsmError("missing terminating '\"' character", loc.with_col(loc.col + i))

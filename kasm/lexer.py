"""Preprocessed text → statements with their user-facing locations.

Handles `#line` markers (so errors name the user's file and line through `#include`),
comments (`#`, `//`, `/* */`) and `;` statement separators, never inside strings.
"""

from __future__ import annotations

import gc
import re

from vmm.values import Value

from .diagnostics import AsmError, Location

_SPECIAL = re.compile(r"[\"'#;/]")  # where a line may need more than copying
_LINE_MARKER = re.compile(r'^\s*#\s*(?:line\s+)?(\d+)\s+"((?:[^"\\]|\\.)*)"')


class CollectorPaused:
    """`with CollectorPaused():` runs without Python's cyclic garbage collector.

    Building keeps every statement, location and fragment alive to the end and makes no
    cyclic garbage on the way, so the collector's passes (one per 700 new objects) only scan
    the same growing heap again: ~15% of a big build (measured). Nests; restores the state.
    """

    __slots__ = ("was_enabled",)

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was_enabled:
            gc.enable()


class Statement(Value):
    __slots__ = ("text", "loc")

    def __init__(self, text: str, loc: Location) -> None:
        self.text = text  # comment-free, stripped
        self.loc = loc  # col points at the statement's first character


def read_source(path: str) -> str:
    """A source file as GNU as reads it (see decode_source)."""
    with open(path, "rb") as f:
        return decode_source(f.read())


def decode_source(data: bytes) -> str:
    """Source bytes as GNU as reads them: bytes rather than one encoding. Bytes that are not
    UTF-8 survive as surrogates and become the same bytes again in strings; a UTF-8
    byte-order mark is dropped and CRLF line ends read as LF."""
    text = data.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n")


def encode_source(text: str) -> bytes:
    """The bytes a piece of source text stands for (inverse of read_source's decoding)."""
    return text.encode("utf-8", "surrogateescape")


class SourceLines:
    """The user's original files, read on demand for the caret line of a diagnostic."""

    def __init__(self) -> None:
        self._files: dict[str, list[str]] = {}

    def add(self, name: str, text: str) -> None:
        self._files[name] = text.splitlines()

    def line(self, name: str, number: int) -> str:
        lines = self.lines(name)
        return lines[number - 1] if 0 < number <= len(lines) else ""

    def lines(self, name: str) -> list[str]:
        if name not in self._files:
            try:
                self._files[name] = read_source(name).splitlines()
            except OSError:
                self._files[name] = []
        return self._files[name]


def split_statements(
    text: str, file: str, sources: SourceLines, first_line: int = 1
) -> list[Statement]:
    """Split a file's text into statements; raises AsmError for an unterminated comment."""
    with CollectorPaused():
        return _split_statements(text, file, sources, first_line)


def _split_statements(text: str, file: str, sources: SourceLines, first_line: int
                      ) -> list[Statement]:
    out: list[Statement] = []
    cur_file, line_no = file, first_line - 1
    in_block: Location | None = None
    special = _SPECIAL.search
    originals: list[str] | None = None  # cur_file's lines, read when a statement needs them
    for raw in text.split("\n"):
        line_no += 1
        if in_block is None and not special(raw):
            # the common case: no comment, string or ';' (nor a #line marker) to look at
            stripped = raw.strip()
            if stripped:
                if cur_file == "<string>":
                    orig = raw
                else:
                    if originals is None:
                        originals = sources.lines(cur_file)
                    orig = originals[line_no - 1] if 0 < line_no <= len(originals) else ""
                out.append(Statement(stripped, Location(
                    cur_file, line_no, len(raw) - len(raw.lstrip()) + 1, orig or raw)))
            continue
        if in_block is None:
            m = _LINE_MARKER.match(raw)
            if m:
                cur_file, line_no = m.group(2), int(m.group(1)) - 1
                originals = None
                continue
        orig = sources.line(cur_file, line_no) if cur_file != "<string>" else raw
        loc = Location(cur_file, line_no, 1, orig or raw)
        pieces, in_block = _strip_line(raw, loc, in_block)
        for col, piece in pieces:
            stripped = piece.strip()
            if stripped:
                lead = len(piece) - len(piece.lstrip())
                out.append(Statement(stripped, loc.with_col(col + lead + 1)))
    if in_block is not None:
        raise AsmError("unterminated comment", in_block)
    return out


def _strip_line(
    raw: str, loc: Location, in_block: Location | None
) -> tuple[list[tuple[int, str]], Location | None]:
    """Remove comments, split at ';'; returns (start column, text) pieces."""
    if in_block is None and not _SPECIAL.search(raw):
        return [(0, raw)], None  # the common case: nothing to strip
    pieces: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    i, n = 0, len(raw)
    while i < n:
        if in_block is None:
            m = _SPECIAL.search(raw, i)
            stop = m.start() if m else n
            if stop > i:
                buf.append(raw[i:stop])
                i = stop
                continue
        c = raw[i]
        if in_block is not None:
            end = raw.find("*/", i)
            if end < 0:
                return pieces + ([(start, "".join(buf))] if buf else []), in_block
            buf.append(" " * (end + 2 - i))
            i = end + 2
            in_block = None
            continue
        if c == '"':
            j = i + 1
            while j < n and raw[j] != '"':
                j += 2 if raw[j] == "\\" else 1
            if j >= n:
                raise AsmError("missing terminating '\"' character", loc.with_col(i + 1))
            buf.append(raw[i : j + 1])
            i = j + 1
            continue
        if c == "'":
            # character constant: 'c or '\c (one character, as GNU reads it), optionally closed by '
            j = i + 1
            j += 2 if j < n and raw[j] == "\\" else 1
            if j < n and raw[j] == "'":
                j += 1
            buf.append(raw[i:j])
            i = j
            continue
        if c == "#" or raw.startswith("//", i):
            break
        if raw.startswith("/*", i):
            in_block = loc.with_col(i + 1)
            buf.append("  ")
            i += 2
            continue
        if c == ";":
            pieces.append((start, "".join(buf)))
            buf = []
            start = i + 1
            i += 1
            continue
        buf.append(c)  # a lone '/'
        i += 1
    pieces.append((start, "".join(buf)))
    return pieces, in_block


def split_arguments(text: str) -> list[tuple[int, str]]:
    """Split at top-level commas (not inside parentheses or character constants); returns
    (offset, piece) pairs."""
    parts: list[tuple[int, str]] = []
    if "(" not in text and ")" not in text and "'" not in text:  # the common case: every comma
        start = 0
        for part in text.split(","):
            parts.append((start, part))
            start += len(part) + 1
        return parts
    depth, start, i = 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "'":
            i += 3 if text[i + 1 : i + 2] == "\\" else 2
            if text[i : i + 1] == "'":
                i += 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append((start, text[start:i]))
            start = i + 1
        i += 1
    parts.append((start, text[start:]))
    return parts

"""The file a user names on the command line, read exactly once.

A pipe, `/dev/stdin`, `<(...)` or a FIFO can be read only once: everything after the read
(the cache key, the build, the caret lines of diagnostics) works on the bytes read here.
`-` is stdin. A file that is not text (an ELF object, a flat image) is refused before it
reaches the assembler, which would show its bytes as garbled source lines.
"""

from __future__ import annotations

import os
import stat
import sys

STDIN = "-"
STDIN_NAME = "<stdin>"
ELF_MAGIC = b"\x7fELF"
SNIFF_BYTES = 8192  # how much of a file decides "binary", as git's check does
NOT_TEXT_SHARE = 0.3  # more undecodable/control bytes than this share: not a source file


class InputError(Exception):
    """The input cannot be used; `message` names it and says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def display_name(path: str) -> str:
    """How diagnostics name the input."""
    return STDIN_NAME if path == STDIN else path


def is_regular_file(path: str) -> bool:
    """A file that can be read again with the same content (what the build cache needs)."""
    if path == STDIN:
        return False
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def is_stream(path: str) -> bool:
    """stdin, a pipe, a FIFO, a device: an input with no file name to name outputs after (a
    missing file or a directory is not one: reading it says what is wrong)."""
    if path == STDIN:
        return True
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def is_stdin(path: str) -> bool:
    """True when reading `path` reads the process's stdin (`-`, /dev/stdin, the same file)."""
    if path == STDIN:
        return True
    try:
        mine, theirs = os.stat(path), os.fstat(0)
    except (OSError, ValueError):
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def read_input(path: str) -> bytes:
    """The whole input, read once."""
    name = display_name(path)
    if path == STDIN:
        if sys.stdin is None:
            raise InputError(f"{name}: stdin is closed")
        try:
            return sys.stdin.buffer.read()
        except OSError as e:
            raise InputError(f"{name}: cannot read ({e.strerror})") from None
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory") from None
    except OSError as e:
        raise InputError(f"{name}: cannot read ({e.strerror})") from None


def refuse_binary(name: str, data: bytes) -> None:
    """InputError for an ELF file or anything else that is not text."""
    if data.startswith(ELF_MAGIC):
        raise InputError(f"{name}: this is an ELF file, not assembly source")
    if _looks_binary(data[:SNIFF_BYTES]):
        raise InputError(f"{name}: this is a binary file, not assembly source")


def _looks_binary(head: bytes) -> bool:
    """A NUL byte, or mostly bytes that are neither UTF-8 nor printable. A source may hold a
    few bytes in another encoding (a Latin-1 comment), which GNU as accepts, and so does kasm."""
    if b"\0" in head:
        return True
    if not head:
        return False
    text = head.decode("utf-8", "surrogateescape")
    odd = sum(1 for c in text if ("\udc80" <= c <= "\udcff") or (c < " " and c not in "\t\n\r\f\v")
              or c == "\x7f")
    return odd > NOT_TEXT_SHARE * len(text)

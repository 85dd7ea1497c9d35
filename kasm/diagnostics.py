"""Source locations and errors in the compiler convention: `file:line:col: error: message`."""

from __future__ import annotations

import re

from vmm.values import Record, Value

# The message for a RecursionError met while evaluating: expressions themselves are limited to
# expr.MAX_DEPTH levels, but a symbol defined through hundreds of others still nests each one.
NESTED_TOO_DEEPLY = ("expression nests too deeply to evaluate (symbols defined in terms of "
                     "each other, hundreds deep?)")


# "in expansion of macro" notes shown at each end of a longer chain, as compilers cut theirs
NOTES_SHOWN = 5


class Location(Record):
    """Where a piece of text came from, in the user's file (not the preprocessed text)."""

    __slots__ = ("file", "line", "col", "text", "macro", "parent")

    def __init__(
        self, file: str, line: int, col: int = 1, text: str = "", macro: str | None = None,
        parent: Location | None = None,
    ) -> None:  # fmt: skip
        self.file, self.line, self.col = file, line, col
        self.text = text  # the user's source line, for the caret display
        self.macro = macro  # "in expansion of macro X"
        self.parent = parent  # where the macro was invoked

    def with_col(self, col: int) -> Location:
        # called for every operand and expression: a plain positional constructor is cheapest
        return Location(self.file, self.line, col, self.text, self.macro, self.parent)


# a byte that was not UTF-8, as the source was read (a lone surrogate, "surrogateescape")
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _as_hex_escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()) - 0xDC00:02x}"  # as GNU shows it: \xff


class Diagnostic(Value):
    __slots__ = ("severity", "message", "loc")

    def __init__(self, severity: str, message: str, loc: Location | None) -> None:
        self.severity = severity  # "error" or "warning"
        self.message = message
        self.loc = loc

    def format(self) -> str:
        message = _UNDECODABLE.sub(_as_hex_escape, self.message)
        if self.loc is None:
            return f"kasm: {self.severity}: {message}"
        loc = self.loc
        if loc.line <= 0:  # about the whole file
            return f"{loc.file}: {self.severity}: {message}"
        lines = [f"{loc.file}:{loc.line}:{loc.col}: {self.severity}: {message}"]
        if loc.text:
            text = _UNDECODABLE.sub("?", loc.text)  # one column each, as in the file
            shown = text.expandtabs(8) if "\t" not in text[: loc.col] else text
            lines.append(f" {shown.rstrip()}")
            lines.append(" " + " " * max(loc.col - 1, 0) + "^")
        notes = []  # (where, what)
        parent = loc.parent
        macro = loc.macro
        while parent is not None:
            notes.append((f"{parent.file}:{parent.line}", f"in expansion of macro '{macro}'"))
            macro = parent.macro
            parent = parent.parent
        if len(notes) > 2 * NOTES_SHOWN:  # a recursive macro: the innermost and outermost
            skipped = len(notes) - 2 * NOTES_SHOWN
            notes[NOTES_SHOWN:-NOTES_SHOWN] = [
                (notes[NOTES_SHOWN][0], f"(skipping {skipped} expansions in backtrace)")]
        lines += [f"{where}: note: {what}" for where, what in notes]
        return "\n".join(lines)


class SourceError(Exception):
    """One or more source errors; raised once all of a file's errors have been collected."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.format() for d in diagnostics))


class AsmError(Exception):
    """A single error at a location; collected by the parser into a SourceError."""

    def __init__(self, message: str, loc: Location | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc


class DiagnosticLog:
    """Collects errors and warnings so that one run reports all of a file's problems."""

    def __init__(self, max_errors: int = 50, filename: str = "<string>") -> None:
        self.max_errors = max_errors
        self.filename = filename
        self.items: list[Diagnostic] = []

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def error(self, message: str, loc: Location | None) -> None:
        self.items.append(Diagnostic("error", message, loc or Location(self.filename, 0)))
        if len(self.errors) >= self.max_errors:
            self.items.append(Diagnostic("error", "too many errors, stopping", None))
            raise SourceError(self.items)

    def warning(self, message: str, loc: Location | None) -> None:
        self.items.append(Diagnostic("warning", message, loc))

    def check(self) -> None:
        if self.errors:
            raise SourceError(self.items)

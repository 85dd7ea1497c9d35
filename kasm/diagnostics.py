"""Source locations and errors in the compiler convention: `file:line:col: error: message`."""

from __future__ import annotations

from dataclasses import dataclass, field

# The message for a RecursionError met while evaluating: expressions themselves are limited to
# expr.MAX_DEPTH levels, but a symbol defined through hundreds of others still nests each one.
NESTED_TOO_DEEPLY = ("expression nests too deeply to evaluate (symbols defined in terms of "
                     "each other, hundreds deep?)")


@dataclass(slots=True)
class Location:
    """Where a piece of text came from, in the user's file (not the preprocessed text)."""

    file: str
    line: int
    col: int = 1
    text: str = ""  # the user's source line, for the caret display
    macro: str | None = None  # "in expansion of macro X"
    parent: Location | None = None  # where the macro was invoked

    def with_col(self, col: int) -> Location:
        # called for every operand and expression: a plain positional constructor is cheapest
        return Location(self.file, self.line, col, self.text, self.macro, self.parent)


@dataclass
class Diagnostic:
    severity: str  # "error" or "warning"
    message: str
    loc: Location | None

    def format(self) -> str:
        if self.loc is None:
            return f"kasm: {self.severity}: {self.message}"
        loc = self.loc
        if loc.line <= 0:  # about the whole file
            return f"{loc.file}: {self.severity}: {self.message}"
        lines = [f"{loc.file}:{loc.line}:{loc.col}: {self.severity}: {self.message}"]
        if loc.text:
            shown = loc.text.expandtabs(8) if "\t" not in loc.text[: loc.col] else loc.text
            lines.append(f" {shown.rstrip()}")
            lines.append(" " + " " * max(loc.col - 1, 0) + "^")
        parent = loc.parent
        macro = loc.macro
        while parent is not None:
            lines.append(f"{parent.file}:{parent.line}: note: in expansion of macro '{macro}'")
            macro = parent.macro
            parent = parent.parent
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


@dataclass
class DiagnosticLog:
    """Collects errors and warnings so that one run reports all of a file's problems."""

    max_errors: int = 50
    filename: str = "<string>"
    items: list[Diagnostic] = field(default_factory=list)

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

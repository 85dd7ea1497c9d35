"""Symbols seen by expressions, and the private names kasm gives what the user cannot name.

One evaluation over a symbol table, three views of where a label is: while parsing (a
fragment and an offset), during layout (section-relative), at link (absolute).
"""

from __future__ import annotations

from collections.abc import Mapping

from . import expr
from .diagnostics import AsmError, Location
from .expr import Unknown, Value


def local_label_name(number: int, ordinal: int) -> str:
    """The private name of the ordinal-th definition of local label `number:`."""
    return f"{number}\x02{ordinal}"


def set_definition_name(name: str, version: int) -> str:
    """The private name of the version-th `.set` of `name` (earlier uses keep their value)."""
    return f"{name}\x03{version}"


def location_name(ordinal: int) -> str:
    """The private label of the ordinal-th `.` bound in an expression (where it was then)."""
    return f"\x04{ordinal}"


def section_variant_name(name: str, group: str, unique: str) -> str:
    """The private name of a section that shares its name with others (a comdat group's, or
    `unique,N`): GNU keeps each one a section of its own, placed where ld places it."""
    return f"{name}\x05{group}\x05{unique}" if group or unique else name


def plain_section_name(key: str) -> str:
    """A section's name as written (without what section_variant_name added)."""
    return key.split("\x05", 1)[0]


def is_private_name(name: str) -> bool:
    return "\x02" in name or "\x03" in name or "\x04" in name


def shown_name(name: str) -> str:
    """A symbol as the user wrote it: an undefined local label can only be a forward `Nf`."""
    return name.split("\x02")[0] + "f" if "\x02" in name else name.split("\x03")[0]


class SymbolEnv(expr.Env):
    """Expressions evaluated over a symbol table (of the streamer's or the object file's
    symbols: each has a name, loc and defining node, or is a label). Subclasses say where a
    label is, and what an undefined symbol means."""

    def __init__(self, symbols: Mapping) -> None:
        self.symbols = symbols
        self._evaluating: set[int] = set()  # guards against `.equ A, A+1`

    def label(self, sym) -> Value:  # noqa: ANN001 - a fragments.SymbolDef or objfile.ObjectSymbol
        raise NotImplementedError

    def undefined(self, name: str, loc: Location | None) -> Value:
        raise Unknown()

    def symbol(self, name: str, loc: Location | None) -> Value:
        sym = self.symbols.get(name)
        if sym is None or not sym.defined:
            return self.undefined(name, loc)
        node = sym.node
        if node is None:
            return self.label(sym)
        if id(sym) in self._evaluating:
            raise AsmError(f"symbol '{sym.name}' is defined in terms of itself", sym.loc)
        if len(self._evaluating) >= expr.MAX_DEPTH:
            # as for deep expressions: refused at a fixed depth, not where Python's stack ends
            raise RecursionError("symbols defined in terms of each other nest too deeply")
        self._evaluating.add(id(sym))
        try:
            return expr.evaluate(node, self, sym.loc)
        finally:
            self._evaluating.discard(id(sym))

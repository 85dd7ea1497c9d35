"""Statements → streamer calls: labels, assignments, directives, macros, instructions.

The parser reads each statement once: a label defines a symbol, `name = expr` assigns, a
directive goes to its handler (directives.py for sections, data and symbols; macros.py for
macros, repetitions and conditionals; here for files), a macro name expands, and anything
else is an instruction, parsed (att_syntax.py) and handed to the streamer.
"""

from __future__ import annotations

import os
import re

from . import expr
from .arguments import arguments, strings
from .att_syntax import InstructionReader
from .diagnostics import NESTED_TOO_DEEPLY, AsmError, DiagnosticLog, Location
from .directives import Directives, Handler
from .lexer import SourceLines, Statement, read_source, split_statements
from .macros import CONDITIONALS, LABEL, Expander, Runaway, is_conditional
from .streamer import Streamer

_ASSIGN = re.compile(r"([A-Za-z_.$][\w.$@]*)\s*(==?)(?!=)\s*(.*)$")


class Parser:
    """Reads statements, expands macros and conditionals, and streams the rest."""

    def __init__(
        self, streamer: Streamer, log: DiagnosticLog, sources: SourceLines,
        include_dirs: list[str] | None = None,
    ) -> None:  # fmt: skip
        self.out, self.log, self.sources = streamer, log, sources
        self.include_dirs = [] if include_dirs is None else include_dirs
        self.included: list[str] = []  # every file read, for the build cache
        self._includer: dict[str, str] = {}  # a .include'd file (real path) → who included it
        self.expander = Expander(streamer)
        self._macros = self.expander.macros
        self._read_instruction = InstructionReader().read
        self._emit_instruction = streamer.emit_instruction
        self._ended = False
        self._directives = self._table()

    def _table(self) -> dict[str, Handler]:
        ex = self.expander
        table = Directives(self.out, self.log).table()
        table.update(dict.fromkeys(CONDITIONALS, self._conditional))
        table.update(dict.fromkeys((".macro", ".rept", ".irp", ".irpc"), ex.block))
        table.update({
            ".endm": _unmatched_end, ".endr": _unmatched_end,
            ".exitm": lambda name, args, loc, args_loc: ex.exit_macro(loc),
            ".purgem": lambda name, args, loc, args_loc: ex.purge(args.strip(), args_loc),
            ".include": lambda name, args, loc, args_loc: self._include(args, args_loc),
            ".incbin": lambda name, args, loc, args_loc: self._incbin(args, args_loc),
            ".end": self._end,
        })
        return table

    # ------------------------------------------------------------------ driver
    def run(self, statements: list[Statement]) -> None:
        """Assemble a file's statements; errors are logged, not raised (but a runaway)."""
        self.expander.insert(statements)
        for st in self.expander.statements():
            try:
                self._statement(st)
            except Runaway:
                raise  # nothing after it would mean anything
            except AsmError as e:
                self.log.error(e.message, e.loc or st.loc)
            except RecursionError:
                # a chain of symbols defined in terms of each other, hundreds deep
                self.log.error(NESTED_TOO_DEEPLY, st.loc)
            if self._ended:
                break
        self.expander.finish(self.log)

    def _statement(self, st: Statement) -> None:
        text, loc = st.text, st.loc
        if not text:  # a macro line that was only a parameter with an empty value
            return
        word = text.split(None, 1)[0].lower()
        if not self.expander.active:
            if is_conditional(word):
                # .elseif evaluates its condition: hand it the arguments, not the statement
                self.expander.conditional(word, text[len(word):].strip(), loc)
            return
        # labels (a statement without a ':' has none, nor a '=' an assignment: most have neither)
        while ":" in text:
            m = LABEL.match(text)
            if not m:
                break
            self.out.define_label(m.group(1), loc)
            consumed = m.end()
            rest = text[consumed:]
            loc = loc.with_col(loc.col + consumed + len(rest) - len(rest.lstrip()))
            text = rest.strip()
            if not text:
                return
            word = text.split(None, 1)[0].lower()
        m = _ASSIGN.match(text) if "=" in text else None
        if m and not word.startswith("."):
            node = expr.parse(m.group(3), loc.with_col(loc.col + m.start(3)))
            self.out.assign(m.group(1), node, loc, redefinable=m.group(2) == "=",
                            equiv=m.group(2) == "==")
            return
        if word.startswith("."):
            rest = text[len(word):].strip()
            rest_col = loc.col + (len(text) - len(text[len(word):].lstrip()) if rest
                                  else len(word))
            self._directive(word, rest, loc, loc.with_col(rest_col))
            return
        macro = self._macros.get(word)
        if macro is not None:
            self.expander.expand(macro, text[len(word):].strip(), loc)
            return
        if word.startswith("hc_") and word in library_macros():
            raise AsmError(f"unknown instruction '{word}': it is a macro of hypercall.h (add "
                           '.include "hypercall.h", or #include <hypercall.h> in a .S file)', loc)
        self._emit_instruction(self._read_instruction(text, loc))

    def _directive(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        handler = self._directives.get(name)
        if handler is None:
            if not name.startswith(".if"):
                raise AsmError(f"unknown directive '{name}'", loc)
            handler = self._conditional  # says it is unknown, and pairs with its .endif
        handler(name, args, loc, args_loc)

    def _conditional(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        self.expander.conditional(name, args, args_loc)

    def _end(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        self._ended = True

    # ------------------------------------------------------------------ files
    def _include(self, args: str, loc: Location) -> None:
        name = _file_name(strings(args, loc)[0]) if args.strip().startswith('"') \
            else args.strip()
        path = self.find_include(name, os.path.dirname(loc.file) or ".")
        if path is None:
            raise AsmError(f"include file '{name}' not found", loc)
        self._check_not_cyclic(path, loc)
        if len(self.included) > 1000:
            raise AsmError("too many .include files (recursive include?)", loc)
        self.included.append(path)
        try:
            text = read_source(path)
        except OSError as e:
            raise AsmError(f"cannot read include file '{name}': {e.strerror}", loc) from None
        self.sources.add(path, text)
        self._includer[os.path.realpath(path)] = _active_file(loc)
        self.expander.insert(split_statements(text, path, self.sources))

    def _check_not_cyclic(self, path: str, loc: Location) -> None:
        """Refuse a file that is being read already (GNU as reads on until it runs out of
        file descriptors, repeating every error of the file each time)."""
        target = os.path.realpath(path)
        chain = [_active_file(loc)]  # the file of this .include, the one that included it...
        while os.path.realpath(chain[-1]) != target:
            includer = self._includer.get(os.path.realpath(chain[-1]))
            if includer is None:
                return
            chain.append(includer)
        names = " -> ".join([*reversed(chain), chain[-1]])
        raise AsmError(f"'{chain[-1]}' includes itself ({names})", loc)

    def _incbin(self, args: str, loc: Location) -> None:
        parts = arguments(args, loc)
        if not parts:
            raise AsmError(".incbin needs a file name", loc)
        name = _file_name(strings(parts[0][1], parts[0][0])[0])
        path = self.find_include(name, os.path.dirname(loc.file) or ".")
        if path is None:
            here = os.path.join(os.path.dirname(loc.file) or ".", name)
            if name and "\0" not in name and os.path.isdir(here):
                raise AsmError(f"'{name}' is a directory, not a file to include", parts[0][0])
            raise AsmError(f"file '{name}' not found", parts[0][0])
        self.included.append(path)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise AsmError(f"cannot read '{name}': {e.strerror}", parts[0][0]) from None
        skip = self.out.const(expr.parse(parts[1][1], parts[1][0]), parts[1][0]) \
            if len(parts) > 1 else 0
        count = self.out.const(expr.parse(parts[2][1], parts[2][0]), parts[2][0]) \
            if len(parts) > 2 else len(data) - skip
        if not (0 <= skip <= len(data) and 0 <= count <= len(data) - skip):
            raise AsmError(f".incbin skip ({skip}) or count ({count}) invalid for file size "
                           f"({len(data)})", loc)
        self.out.emit_bytes(data[skip:skip + count], loc)

    def find_include(self, name: str, here: str) -> str | None:
        if not name or "\0" in name:
            return None
        for d in [here, *self.include_dirs]:
            p = os.path.join(d, name)
            if os.path.isfile(p):  # False for a name too long for the file system and the like
                return p
        return None


def _active_file(loc: Location) -> str:
    """The file being read at `loc`: where the outermost macro expansion was invoked (a
    macro's statements name the file that defined it)."""
    while loc.parent is not None:
        loc = loc.parent
    return loc.file


_LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "include", "hypercall.h")
_library_macros: list[frozenset[str]] = []


def library_macros() -> frozenset[str]:
    """The macros hypercall.h defines (read from it the first time one is asked about)."""
    if not _library_macros:
        try:
            text = read_source(_LIBRARY)
        except OSError:
            text = ""
        _library_macros.append(frozenset(re.findall(r"^\s*\.macro\s+(\w+)", text, re.M)))
    return _library_macros[0]


def _unmatched_end(name: str, args: str, loc: Location, args_loc: Location) -> None:
    raise AsmError(f"{name} without a matching "
                   f"{'.macro' if name == '.endm' else '.rept/.irp'}", loc)


def _file_name(text: bytes) -> str:
    """A string's bytes as a file name (non-UTF-8 bytes kept, as the file system has them)."""
    return text.decode("utf-8", "surrogateescape")

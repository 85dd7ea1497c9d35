"""Macros, repetitions and conditionals: the statements the parser sees after expansion.

The Expander holds the queue of statements still to assemble (a file's, an include's, an
expansion's, pushed in front) and the state of `.if` nesting; the parser takes statements
from it one at a time. `.if` conditions and `.rept` counts are values the streamer knows now.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator

from vmm.values import Record

from . import expr
from .arguments import NAME, arguments
from .diagnostics import AsmError, DiagnosticLog, Location
from .lexer import Statement, split_arguments
from .streamer import Streamer

LABEL = re.compile(r"([A-Za-z_.$][\w.$@]*|\d+)\s*:(?!:)")
_MACRO_PARAM = re.compile(r"\\(\(\)|@|[A-Za-z_][\w]*)")
BLOCK_OPEN = (".macro", ".rept", ".irp", ".irpc")
MAX_EXPANSION_DEPTH = 100
_END_OF_EXPANSION = "\x00end of macro expansion"  # queued after each expansion's statements
MAX_STATEMENTS = 500_000  # 3-10 s of assembling: a runaway .rept or recursion stops here
_TOO_MANY = (f"too many statements (more than {MAX_STATEMENTS}: runaway .rept or macro "
             "recursion?)")


class Runaway(AsmError):
    """Too many statements: the build stops here."""


class Macro(Record):
    """A `.macro` definition: its parameters and body, expanded at each call."""

    __slots__ = ("name", "params", "body", "loc")

    def __init__(
        self, name: str, params: list[tuple[str, str | None, str]], body: list[Statement],
        loc: Location,
    ) -> None:  # fmt: skip
        self.name = name
        self.params = params  # (name, default, qualifier)
        self.body, self.loc = body, loc


class _Cond(Record):
    __slots__ = ("active", "taken", "parent_active", "loc", "seen_else")

    def __init__(
        self, active: bool, taken: bool, parent_active: bool, loc: Location, seen_else: bool = False
    ) -> None:
        self.active = active  # this branch is being assembled
        self.taken = taken  # some branch of this .if was true
        self.parent_active, self.loc, self.seen_else = parent_active, loc, seen_else


CONDITIONALS = (".if", ".ifdef", ".ifndef", ".ifnotdef", ".ifb", ".ifnb", ".ifc", ".ifnc",
                ".ifeq", ".ifne", ".ifge", ".ifgt", ".ifle", ".iflt", ".else", ".elseif", ".endif")


def is_conditional(name: str) -> bool:
    """Any `.if...` (an unknown one too: it is paired with its .endif), .else, .endif."""
    return name.startswith(".if") or name in (".else", ".elseif", ".endif")


class Expander:
    """One per build: what the parser reads statements from."""

    def __init__(self, streamer: Streamer) -> None:
        self.values = streamer  # asked for values only
        self.macros: dict[str, Macro] = {}
        self._queue: deque[Statement] = deque()
        self._conds: list[_Cond] = []
        self._counter = 0
        self._statements = 0
        self._expansions: list[int] = []  # for each macro being expanded: .if depth at entry
        self.active = True  # statements are assembled (not skipped by a false `.if`)

    # ------------------------------------------------------------------ the queue
    def insert(self, statements: list[Statement]) -> None:
        """Statements to take next (a file's, an include's)."""
        self._queue.extendleft(reversed(statements))

    def statements(self) -> Iterator[Statement]:
        """The statements to assemble, in order, as expansions and includes put them."""
        queue = self._queue
        while queue:
            st = queue.popleft()
            self._statements += 1
            if self._statements > MAX_STATEMENTS:
                raise Runaway(_TOO_MANY, st.loc)
            if st.text is _END_OF_EXPANSION:
                self._expansions.pop()
                continue
            yield st

    def _queue_expansion(self, expanded: list[Statement], loc: Location) -> None:
        """Queue an expansion's statements to run next, unless that makes too many."""
        if self._statements + len(self._queue) + len(expanded) > MAX_STATEMENTS:
            raise Runaway(_TOO_MANY, loc)
        self._queue.extendleft(reversed(expanded))

    def finish(self, log: DiagnosticLog) -> None:
        for cond in self._conds:
            log.error("missing .endif for this conditional", cond.loc)

    # ------------------------------------------------------------------ conditionals
    def conditional(self, name: str, args: str, loc: Location) -> None:
        try:
            self._conditional(name, args, loc)
        finally:
            self._set_active()

    def _set_active(self) -> None:
        self.active = not self._conds or self._conds[-1].active

    def _conditional(self, name: str, args: str, loc: Location) -> None:
        outer_active = self.active
        if name.startswith(".if"):
            try:
                result = self._condition(name, args, loc) if outer_active else False
            except AsmError:
                self._conds.append(_Cond(False, True, outer_active, loc))  # keep .endif paired
                raise
            self._conds.append(_Cond(result, result, outer_active, loc))
            return
        if not self._conds:
            raise AsmError(f"{name} without .if", loc)
        cond = self._conds[-1]
        if name == ".endif":
            self._conds.pop()
        elif name == ".else":
            if cond.seen_else:
                raise AsmError("second .else for this .if", loc)
            cond.seen_else = True
            cond.active = cond.parent_active and not cond.taken
            cond.taken = True
        else:  # .elseif
            if cond.seen_else:
                raise AsmError(".elseif after .else", loc)
            result = cond.parent_active and not cond.taken and self._condition(".if", args, loc)
            cond.active = result
            cond.taken = cond.taken or result

    def _condition(self, name: str, args: str, loc: Location) -> bool:
        if name in (".ifdef", ".ifndef", ".ifnotdef"):
            defined = self.values.is_defined(args.strip())
            return defined if name == ".ifdef" else not defined
        if name in (".ifb", ".ifnb"):
            return (not args.strip()) == (name == ".ifb")
        if name in (".ifc", ".ifnc"):
            parts = split_arguments(args)
            if len(parts) != 2:
                raise AsmError(f"{name} takes two strings separated by a comma", loc)
            a, b = (p.strip().strip("'") for _, p in parts)
            return (a == b) == (name == ".ifc")
        value = self.values.const(expr.parse(args, loc), loc, "condition")
        tests = {".if": value != 0, ".ifne": value != 0, ".ifeq": value == 0,
                 ".ifge": value >= 0, ".ifgt": value > 0, ".ifle": value <= 0, ".iflt": value < 0}
        if name not in tests:
            raise AsmError(f"unknown directive '{name}'", loc)
        return tests[name]

    # ------------------------------------------------------------------ blocks and macros
    def _collect_block(self, opener: str, loc: Location) -> list[Statement]:
        """The statements up to the matching .endm/.endr, nesting respected."""
        end = ".endm" if opener == ".macro" else ".endr"
        depth = 1
        body: list[Statement] = []
        while self._queue:
            st = self._queue.popleft()
            if st.text is _END_OF_EXPANSION:
                # GNU reads on past the end of the macro that opened the block: that
                # expansion is over, and the block goes on with the lines after it
                self._expansions.pop()
                continue
            text = LABEL.sub("", st.text, count=1).strip() if LABEL.match(st.text) \
                else st.text
            word = text.split(None, 1)[0].lower() if text else ""
            if word in BLOCK_OPEN and (word == ".macro") == (opener == ".macro"):
                depth += 1
            elif word == end:
                depth -= 1
                if depth == 0:
                    return body
            body.append(st)
        raise AsmError(f"missing {end} for this {opener}", loc)

    def block(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        """`.macro`, `.rept`, `.irp`, `.irpc`: the body up to its end, defined or expanded."""
        body = self._collect_block(name, loc)
        if name == ".macro":
            self._define_macro(args, body, loc, args_loc)
            return
        if name == ".rept":
            count = self.values.const(expr.parse(args, args_loc), args_loc, ".rept count")
            if count > MAX_STATEMENTS:
                raise AsmError(f".rept count {count} is too large (kasm expands at most "
                               f"{MAX_STATEMENTS:,} statements)", args_loc)
            if count <= 0 or not body:
                return
            if count * len(body) > MAX_STATEMENTS:
                raise Runaway(_TOO_MANY, loc)
            self._queue_expansion([st for _ in range(max(count, 0)) for st in body], loc)
            return
        parts = arguments(args, args_loc)
        if not parts or not NAME.match(parts[0][1]):
            raise AsmError(f"{name} takes 'symbol, values...'", args_loc)
        param = parts[0][1]
        if name == ".irp":
            values = [p for _, p in parts[1:]]
        else:
            values = list(parts[1][1]) if len(parts) > 1 else []
        values = values or [""]  # GNU assembles the body once with an empty value
        expanded = []
        if len(values) * len(body) > MAX_STATEMENTS:
            raise Runaway(_TOO_MANY, loc)
        for v in values:
            expanded += [self._substitute(st, {param: v}, None) for st in body]
        self._queue_expansion(expanded, loc)

    def _define_macro(self, args: str, body: list[Statement], loc: Location,
                      args_loc: Location) -> None:
        head = args.replace(",", " ").split()
        if not head:
            raise AsmError(".macro needs a name", loc)
        name = head[0]
        if not NAME.match(name):
            raise AsmError(f"invalid macro name '{name}'", args_loc)
        if name.lower() in self.macros:
            raise AsmError(f"macro '{name}' is already defined", args_loc)
        params: list[tuple[str, str | None, str]] = []
        for p in _macro_params(args[len(name):].strip()):
            pname, has_default, default = p.partition("=")
            pname, _, qual = pname.partition(":")
            if not re.fullmatch(r"[A-Za-z_]\w*", pname.strip()):
                raise AsmError(f"invalid macro parameter '{p}'", args_loc)
            params.append((pname.strip(), default.strip() if has_default else None,
                           qual.strip()))
        self.macros[name.lower()] = Macro(name, params, body, loc)

    def purge(self, name: str, loc: Location) -> None:
        if self.macros.pop(name, None) is None:
            raise AsmError(f"macro '{name}' is not defined", loc)

    def expand(self, macro: Macro, args: str, loc: Location) -> None:
        depth = 0
        parent = loc
        while parent is not None:
            depth += 1
            parent = parent.parent
        if depth > MAX_EXPANSION_DEPTH:
            raise AsmError(f"macro '{macro.name}' expands too deeply (recursive?)", loc)
        given = _macro_args(args)
        values: dict[str, str] = {}
        positional = [a for a in given if not _is_keyword_arg(a, macro)]
        keywords = dict(a.split("=", 1) for a in given if _is_keyword_arg(a, macro))
        for i, (pname, default, qual) in enumerate(macro.params):
            if qual == "vararg" and i == len(macro.params) - 1:
                values[pname] = ", ".join(positional[i:])
                positional = positional[:i]
                break
            if pname in keywords:
                values[pname] = keywords.pop(pname).strip()
            elif i < len(positional) and positional[i] != "":  # `m , 3`: a's default
                values[pname] = positional[i]
            elif qual == "req":
                raise AsmError(f"macro '{macro.name}': missing value for required parameter "
                               f"'{pname}'", loc)
            else:
                values[pname] = default or ""
        if len(positional) > len(macro.params) and positional[-1] == "":
            positional.pop()  # `m 1,`: GNU takes one empty last argument as none
        if len(positional) > len(macro.params) or keywords:
            raise AsmError(f"macro '{macro.name}' takes {len(macro.params)} argument(s), "
                           f"got {len(given)}", loc)
        # \@ is GNU's count of macro expansions so far: 0 in the first one
        expanded = [self._substitute(st, values, (macro.name, loc)) for st in macro.body]
        expanded.append(Statement(_END_OF_EXPANSION, loc))
        self._queue_expansion(expanded, loc)
        self._counter += 1
        self._expansions.append(len(self._conds))

    def exit_macro(self, loc: Location) -> None:
        """`.exitm`: drop the rest of the innermost expansion and the .ifs opened in it."""
        if not self._expansions:
            raise AsmError(".exitm outside a macro", loc)
        while self._queue.popleft().text is not _END_OF_EXPANSION:
            pass
        del self._conds[self._expansions.pop():]
        self._set_active()

    def _substitute(self, st: Statement, values: dict[str, str],
                    macro: tuple[str, Location] | None) -> Statement:
        counter = self._counter

        def repl(m: re.Match[str]) -> str:
            key = m.group(1)
            at = m.start()
            if at and text[at - 1] == "'" and text.count('"', 0, at) % 2 == 0:
                return m.group(0)  # `'\c'` is a character constant, as GNU reads it
            if key == "()":
                return ""
            if key == "@":
                return str(counter)
            return values.get(key, m.group(0))

        text, loc = st.text, st.loc
        if "\\" in text:
            text = _MACRO_PARAM.sub(repl, text)
            stripped = text.lstrip()  # `\a hlt` with an empty a: the statement starts later
            loc = loc.with_col(loc.col + len(text) - len(stripped))
            text = stripped.rstrip()
        if macro is not None:
            loc = Location(loc.file, loc.line, loc.col, loc.text, macro[0], macro[1])
        return Statement(text, loc)


def _macro_params(text: str) -> list[str]:
    if not text:
        return []
    text = re.sub(r"\s*=\s*", "=", text)
    return [p for p in re.split(r"[\s,]+", text) if p]


def _macro_args(text: str) -> list[str]:
    """Split a macro invocation's arguments as GNU as does: at top-level commas, else at
    blanks; a "quoted string" is one argument and loses its quotes."""
    pieces: list[str] = []
    current: list[str] = []
    depth, i, n = 0, 0, len(text)
    comma_separated = False

    def close() -> None:
        arg = "".join(current).strip()
        if len(arg) >= 2 and arg[0] == arg[-1] == '"':
            arg = arg[1:-1]
        pieces.append(arg)
        current.clear()

    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            current.append(text[i:j + 1])
            i = j + 1
            continue
        if c == "'":
            j = i + (3 if text[i + 1:i + 2] == "\\" else 2)
            if text[j:j + 1] == "'":
                j += 1
            current.append(text[i:j])
            i = j
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0 and c == ",":
            comma_separated = True
            close()
            i += 1
            continue
        elif depth == 0 and c in " \t" and not comma_separated and "".join(current).strip():
            rest = text[i:].lstrip()
            if rest and rest[0] != "," and "," not in _top_level(rest):
                close()
                i += 1
                continue
        current.append(c)
        i += 1
    if "".join(current).strip() or pieces:
        close()
    return pieces


def _top_level(text: str) -> str:
    """`text` with quoted strings and parenthesised parts blanked out."""
    out, depth, quote = [], 0, False
    for c in text:
        if c == '"':
            quote = not quote
        elif not quote and c == "(":
            depth += 1
        elif not quote and c == ")":
            depth -= 1
        out.append(c if depth == 0 and not quote else " ")
    return "".join(out)


def _is_keyword_arg(arg: str, macro: Macro) -> bool:
    name, eq, _ = arg.partition("=")
    return bool(eq) and any(p[0] == name.strip() for p in macro.params)

"""Statements → streamer calls: labels, directives, macros, instructions.

Everything keystone 0.9.2 lacks or gets wrong at the directive level is handled here:
sections, `.code16/32/64`, data, strings, alignment, `.fill/.space/.org`, `.equ/.set`,
`.macro/.rept/.irp`, `.if`, `.include` and local numeric labels. Instructions are parsed
(att_syntax.py) and handed to the streamer; keystone only ever sees single instructions.
"""

from __future__ import annotations

import os
import re
from collections import deque

from vmm.values import Record

from . import expr
from .att_syntax import InstructionReader
from .diagnostics import NESTED_TOO_DEEPLY, AsmError, DiagnosticLog, Location
from .lexer import (
    CollectorPaused,
    SourceLines,
    Statement,
    encode_source,
    read_source,
    split_arguments,
    split_statements,
)
from .streamer import Streamer

KNOWN_SECTIONS = (".text", ".rodata", ".data", ".bss")
_LABEL = re.compile(r"([A-Za-z_.$][\w.$@]*|\d+)\s*:(?!:)")
_ASSIGN = re.compile(r"([A-Za-z_.$][\w.$@]*)\s*(==?)(?!=)\s*(.*)$")
_NAME = re.compile(r"[A-Za-z_.$][\w.$@]*$")
_MACRO_PARAM = re.compile(r"\\(\(\)|@|[A-Za-z_][\w]*)")

DATA_WIDTHS = {
    ".byte": 1, ".2byte": 2, ".short": 2, ".hword": 2, ".word": 2, ".value": 2,
    ".4byte": 4, ".long": 4, ".int": 4, ".8byte": 8, ".quad": 8,
    ".dc": 2, ".dc.b": 1, ".dc.w": 2, ".dc.l": 4, ".dc.a": 4,  # .dc.a: an ELF32 address
}
_IGNORED = {".file", ".ident", ".type", ".size", ".hidden", ".protected", ".internal",
            ".att_syntax", ".loc", ".cfi_startproc", ".cfi_endproc", ".arch", ".sect",
            ".list", ".nolist", ".psize", ".title", ".sbttl", ".eject", ".version",
            ".local", ".weak"}
_BLOCK_OPEN = (".macro", ".rept", ".irp", ".irpc")
MAX_EXPANSION_DEPTH = 100
_END_OF_EXPANSION = "\x00end of macro expansion"  # queued after each expansion's statements
MAX_STATEMENTS = 500_000  # 3-10 s of assembling: a runaway .rept or recursion stops here
_TOO_MANY = (f"too many statements (more than {MAX_STATEMENTS}: runaway .rept or macro "
             "recursion?)")


class _Runaway(AsmError):
    """Too many statements: the build stops here."""


class Macro(Record):
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


class Parser:
    """Reads statements, expands macros and conditionals, and streams the rest."""

    def __init__(
        self, streamer: Streamer, log: DiagnosticLog, sources: SourceLines,
        include_dirs: list[str] | None = None,
    ) -> None:  # fmt: skip
        self.out, self.log, self.sources = streamer, log, sources
        self.include_dirs = [] if include_dirs is None else include_dirs
        self.macros: dict[str, Macro] = {}
        self.included: list[str] = []  # every file read, for the build cache
        self._queue: deque[Statement] = deque()
        self._conds: list[_Cond] = []
        self._counter = 0
        self._ended = False
        self._statements = 0
        self._expansions: list[int] = []  # for each macro being expanded: .if depth at entry
        self.instructions = InstructionReader()

    # ------------------------------------------------------------------ driver
    def run(self, statements: list[Statement]) -> None:
        with CollectorPaused():
            self._run(statements)

    def _run(self, statements: list[Statement]) -> None:
        self._queue.extend(statements)
        while self._queue and not self._ended:
            st = self._queue.popleft()
            self._statements += 1
            if self._statements > MAX_STATEMENTS:
                raise _Runaway(_TOO_MANY, st.loc)
            try:
                self._statement(st)
            except _Runaway:
                raise  # nothing after it would mean anything
            except AsmError as e:
                self.log.error(e.message, e.loc or st.loc)
            except RecursionError:
                # a chain of symbols defined in terms of each other, hundreds deep
                self.log.error(NESTED_TOO_DEEPLY, st.loc)
        for cond in self._conds:
            self.log.error("missing .endif for this conditional", cond.loc)

    def _statement(self, st: Statement) -> None:
        text, loc = st.text, st.loc
        if text is _END_OF_EXPANSION:
            self._expansions.pop()
            return
        if not text:  # a macro line that was only a parameter with an empty value
            return
        word = text.split(None, 1)[0].lower()
        if self._conds and not self._conds[-1].active:
            if word.startswith(".if") or word in (".else", ".elseif", ".endif"):
                # .elseif evaluates its condition: hand it the arguments, not the statement
                self._conditional(word, text[len(word):].strip(), loc)
            return
        # labels (a statement without a ':' has none, nor a '=' an assignment: most have neither)
        while ":" in text:
            m = _LABEL.match(text)
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
        if word in self.macros:
            self._expand_macro(self.macros[word], text[len(word):].strip(), loc)
            return
        self.out.emit_instruction(self.instructions.read(text, loc))

    def _queue_expansion(self, expanded: list[Statement], loc: Location) -> None:
        """Queue an expansion's statements to run next, unless that makes too many."""
        if self._statements + len(self._queue) + len(expanded) > MAX_STATEMENTS:
            raise _Runaway(_TOO_MANY, loc)
        self._queue.extendleft(reversed(expanded))

    # ------------------------------------------------------------------ directives
    def _directive(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        out = self.out
        if name.startswith(".if") or name in (".else", ".elseif", ".endif"):
            self._conditional(name, args, args_loc)
        elif name in (".code16", ".code32", ".code64"):
            out.set_mode(int(name[5:]))
        elif name in (".text", ".data", ".bss"):
            out.switch_section(self._subsection(name, args, loc))
        elif name in (".section", ".pushsection"):
            if name == ".pushsection":  # pushed even if the name is refused, as GNU pushes it
                out.push_section(None)
            out.switch_section(self._section_name(args, args_loc))
        elif name == ".popsection":
            out.pop_section(loc)
        elif name == ".previous":
            out.switch_to_previous(loc)
        elif name in DATA_WIDTHS:
            for col, part in self._args(args, args_loc, allow_empty=False):
                out.emit_value(expr.parse(part, col), DATA_WIDTHS[name], col)
        elif name in (".ascii", ".asciz", ".string"):
            for s in self._strings(args, args_loc):
                out.emit_bytes(s + (b"\0" if name != ".ascii" else b""), args_loc)
        elif name in (".fill",):
            self._fill(args, args_loc)
        elif name in (".space", ".skip", ".zero"):
            parts = self._args(args, args_loc)
            if not parts or len(parts) > (1 if name == ".zero" else 2):
                raise AsmError(f"{name} takes a size and an optional fill byte", args_loc)
            fill = out.const(expr.parse(parts[1][1], parts[1][0]), parts[1][0]) \
                if len(parts) > 1 else 0
            out.emit_space(expr.parse(parts[0][1], parts[0][0]), fill, parts[0][0])
        elif name in (".align", ".balign", ".p2align", ".balignw", ".balignl", ".p2alignw",
                      ".p2alignl"):
            self._align(name, args, args_loc)
        elif name == ".org":
            parts = self._args(args, args_loc)
            if not parts:
                raise AsmError(".org needs an address", loc)
            fill = out.const(expr.parse(parts[1][1], parts[1][0]), parts[1][0]) \
                if len(parts) > 1 else 0
            out.emit_org(expr.parse(parts[0][1], parts[0][0]), fill, parts[0][0])
        elif name in (".globl", ".global"):
            for col, part in self._args(args, args_loc, allow_empty=False):
                if not _NAME.match(part):
                    raise AsmError(f"invalid symbol name '{part}'", col)
                out.declare_global(part, col)
        elif name in (".equ", ".set", ".equiv", ".eqv"):
            parts = self._args(args, args_loc)
            if len(parts) != 2 or not _NAME.match(parts[0][1]):
                raise AsmError(f"{name} takes 'symbol, expression'", args_loc)
            out.assign(parts[0][1], expr.parse(parts[1][1], parts[1][0]), loc,
                       redefinable=name != ".equiv", equiv=name == ".equiv")
        elif name in _BLOCK_OPEN:
            self._block(name, args, loc, args_loc)
        elif name in (".endm", ".endr"):
            raise AsmError(f"{name} without a matching "
                           f"{'.macro' if name == '.endm' else '.rept/.irp'}", loc)
        elif name == ".exitm":
            self._exit_macro(loc)
        elif name == ".purgem":
            if self.macros.pop(args.strip(), None) is None:
                raise AsmError(f"macro '{args.strip()}' is not defined", args_loc)
        elif name == ".include":
            self._include(args, args_loc)
        elif name == ".incbin":
            self._incbin(args, args_loc)
        elif name in (".err", ".error"):
            message = _message(self._strings(args, args_loc)[0]) if args else ""
            raise AsmError(message or ".err encountered", loc)
        elif name == ".warning":
            message = (_message(self._strings(args, args_loc)[0]) if args else "") or ".warning"
            self.log.warning(message, loc)
        elif name == ".print":
            pass
        elif name == ".end":
            self._ended = True
        elif name == ".intel_syntax":
            raise AsmError(".intel_syntax is not supported: kasm reads AT&T syntax", loc)
        elif name in (".comm", ".lcomm"):
            self._comm(name, args, args_loc)
        elif name in _IGNORED:
            pass
        else:
            raise AsmError(f"unknown directive '{name}'", loc)

    def _subsection(self, name: str, args: str, loc: Location) -> str:
        if args.strip():
            value = self.out.const(expr.parse(args, loc), loc)
            if value != 0:
                raise AsmError(f"subsection {value} of {name} is not supported", loc)
        return name

    def _section_name(self, args: str, loc: Location) -> str:
        parts = self._args(args, loc)
        if not parts:
            raise AsmError(".section needs a name", loc)
        col, name = parts[0]
        name = name.strip('"')
        base = next((k for k in KNOWN_SECTIONS if name == k or name.startswith(k + ".")), None)
        if base is None:
            raise AsmError(
                f"unknown section '{name}': kasm links .text, .rodata, .data and .bss "
                "(and .text.*, .rodata.*, .data.*, .bss.*)", col)
        return name

    def _args(self, text: str, loc: Location, allow_empty: bool = True
              ) -> list[tuple[Location, str]]:
        if not text.strip():
            if not allow_empty:
                raise AsmError("expression expected", loc)
            return []
        out = []
        for start, part in split_arguments(text):
            lead = len(part) - len(part.lstrip())
            out.append((loc.with_col(loc.col + start + lead), part.strip()))
        return out

    def _strings(self, text: str, loc: Location) -> list[bytes]:
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

    def _fill(self, args: str, loc: Location) -> None:
        parts = self._args(args, loc)
        if not 1 <= len(parts) <= 3:
            raise AsmError(".fill takes 'repeat[, size[, value]]'", loc)
        size = self.out.const(expr.parse(parts[1][1], parts[1][0]), parts[1][0], ".fill size") \
            if len(parts) > 1 else 1
        value = self.out.const(expr.parse(parts[2][1], parts[2][0]), parts[2][0]) \
            if len(parts) > 2 else 0
        if size < 0:
            raise AsmError(".fill size must not be negative", parts[1][0])
        size = min(size, 8)
        unit = (value & ((1 << (8 * min(size, 4))) - 1)).to_bytes(min(size, 4), "little")
        unit += bytes(size - len(unit))
        count = expr.parse(parts[0][1], parts[0][0])
        repeat = self.out.try_const(count, parts[0][0])
        if repeat is None:
            # a count known only after layout (`.fill 510-(.-_start)` past a jump): GNU makes
            # it a .space of repeat*size bytes of the unit pattern, sized during relaxation
            if size:
                self.out.emit_space(("bin", "*", count, ("num", size)), unit, parts[0][0])
            return
        if repeat < 0:
            self.log.warning(".fill repeat count is negative; nothing emitted", parts[0][0])
            return
        if repeat == 0 or size == 0:
            return
        if repeat * size > 1 << 30:
            raise AsmError(f".fill of {repeat * size} bytes is too large", parts[0][0])
        self.out.emit_bytes(unit * repeat, loc)

    def _align(self, name: str, args: str, loc: Location) -> None:
        parts = self._args(args, loc)
        if not parts:
            raise AsmError(f"{name} needs an alignment", loc)

        def value(i: int) -> int | None:
            if len(parts) <= i or not parts[i][1]:
                return None
            return self.out.const(expr.parse(parts[i][1], parts[i][0]), parts[i][0])

        n = value(0)
        if n is None:  # `.align , 5`
            raise AsmError(f"{name} needs an alignment", loc)
        if name.startswith(".p2align"):
            if not 0 <= n < 32:
                raise AsmError(f"alignment 2**{n} is too large", parts[0][0])
            n = 1 << n
        elif n == 0:
            n = 1
        fill_size = {"w": 2, "l": 4}.get(name[-1], 1)  # .balignw/.p2alignl: 2- or 4-byte fill
        self.out.emit_align(n, value(1), value(2), fill_size, parts[0][0])

    def _comm(self, name: str, args: str, loc: Location) -> None:
        parts = self._args(args, loc)
        if len(parts) < 2 or not _NAME.match(parts[0][1]):
            raise AsmError(f"{name} takes 'symbol, size[, alignment]'", loc)
        size = self.out.const(expr.parse(parts[1][1], parts[1][0]), parts[1][0])
        align = self.out.const(expr.parse(parts[2][1], parts[2][0]), parts[2][0]) \
            if len(parts) > 2 else 1
        if size < 0:
            raise AsmError(f"{name} size {size} is negative", parts[1][0])
        self.out.emit_common(parts[0][1], size, align, loc, parts[1][0])

    # ------------------------------------------------------------------ conditionals
    def _conditional(self, name: str, args: str, loc: Location) -> None:
        outer_active = not self._conds or self._conds[-1].active
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
        out = self.out
        if name in (".ifdef", ".ifndef", ".ifnotdef"):
            defined = out.is_defined(args.strip())
            return defined if name == ".ifdef" else not defined
        if name in (".ifb", ".ifnb"):
            return (not args.strip()) == (name == ".ifb")
        if name in (".ifc", ".ifnc"):
            parts = split_arguments(args)
            if len(parts) != 2:
                raise AsmError(f"{name} takes two strings separated by a comma", loc)
            a, b = (p.strip().strip("'") for _, p in parts)
            return (a == b) == (name == ".ifc")
        value = out.const(expr.parse(args, loc), loc, "condition")
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
            text = _LABEL.sub("", st.text, count=1).strip() if _LABEL.match(st.text) \
                else st.text
            word = text.split(None, 1)[0].lower() if text else ""
            if word in _BLOCK_OPEN and (word == ".macro") == (opener == ".macro"):
                depth += 1
            elif word == end:
                depth -= 1
                if depth == 0:
                    return body
            body.append(st)
        raise AsmError(f"missing {end} for this {opener}", loc)

    def _block(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        body = self._collect_block(name, loc)
        if name == ".macro":
            self._define_macro(args, body, loc, args_loc)
            return
        if name == ".rept":
            count = self.out.const(expr.parse(args, args_loc), args_loc, ".rept count")
            if count > MAX_STATEMENTS:
                raise AsmError(f".rept count {count} is too large (kasm expands at most "
                               f"{MAX_STATEMENTS:,} statements)", args_loc)
            if count <= 0 or not body:
                return
            if count * len(body) > MAX_STATEMENTS:
                raise _Runaway(_TOO_MANY, loc)
            self._queue_expansion([st for _ in range(max(count, 0)) for st in body], loc)
            return
        parts = self._args(args, args_loc)
        if not parts or not _NAME.match(parts[0][1]):
            raise AsmError(f"{name} takes 'symbol, values...'", args_loc)
        param = parts[0][1]
        if name == ".irp":
            values = [p for _, p in parts[1:]]
        else:
            values = list(parts[1][1]) if len(parts) > 1 else []
        values = values or [""]  # GNU assembles the body once with an empty value
        expanded = []
        if len(values) * len(body) > MAX_STATEMENTS:
            raise _Runaway(_TOO_MANY, loc)
        for v in values:
            expanded += [self._substitute(st, {param: v}, None) for st in body]
        self._queue_expansion(expanded, loc)

    def _define_macro(self, args: str, body: list[Statement], loc: Location,
                      args_loc: Location) -> None:
        head = args.replace(",", " ").split()
        if not head:
            raise AsmError(".macro needs a name", loc)
        name = head[0]
        if not _NAME.match(name):
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

    def _expand_macro(self, macro: Macro, args: str, loc: Location) -> None:
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
        if len(positional) > len(macro.params) or keywords:
            raise AsmError(f"macro '{macro.name}' takes {len(macro.params)} argument(s), "
                           f"got {len(given)}", loc)
        # \@ is GNU's count of macro expansions so far: 0 in the first one
        expanded = [self._substitute(st, values, (macro.name, loc)) for st in macro.body]
        expanded.append(Statement(_END_OF_EXPANSION, loc))
        self._queue_expansion(expanded, loc)
        self._counter += 1
        self._expansions.append(len(self._conds))

    def _exit_macro(self, loc: Location) -> None:
        """`.exitm`: drop the rest of the innermost expansion and the .ifs opened in it."""
        if not self._expansions:
            raise AsmError(".exitm outside a macro", loc)
        while self._queue.popleft().text is not _END_OF_EXPANSION:
            pass
        del self._conds[self._expansions.pop():]

    def _substitute(self, st: Statement, values: dict[str, str],
                    macro: tuple[str, Location] | None) -> Statement:
        counter = self._counter

        def repl(m: re.Match[str]) -> str:
            key = m.group(1)
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

    # ------------------------------------------------------------------ files
    def _include(self, args: str, loc: Location) -> None:
        name = _file_name(self._strings(args, loc)[0]) if args.strip().startswith('"') \
            else args.strip()
        path = self.find_include(name, os.path.dirname(loc.file) or ".")
        if path is None:
            raise AsmError(f"include file '{name}' not found", loc)
        if len(self.included) > 1000:
            raise AsmError("too many .include files (recursive include?)", loc)
        self.included.append(path)
        try:
            text = read_source(path)
        except OSError as e:
            raise AsmError(f"cannot read include file '{name}': {e.strerror}", loc) from None
        self.sources.add(path, text)
        statements = split_statements(text, path, self.sources)
        self._queue.extendleft(reversed(statements))

    def _incbin(self, args: str, loc: Location) -> None:
        parts = self._args(args, loc)
        if not parts:
            raise AsmError(".incbin needs a file name", loc)
        name = _file_name(self._strings(parts[0][1], parts[0][0])[0])
        path = self.find_include(name, os.path.dirname(loc.file) or ".")
        if path is None:
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


def _message(text: bytes) -> str:
    """A string's bytes for a message: bytes that are not UTF-8 shown as \\xNN."""
    return text.decode("utf-8", "backslashreplace")


def _file_name(text: bytes) -> str:
    """A string's bytes as a file name (non-UTF-8 bytes kept, as the file system has them)."""
    return text.decode("utf-8", "surrogateescape")


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

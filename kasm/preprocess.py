"""C preprocessing of `.S` files (`#include`, `#define`, `#if`) with pcpp, no cpp needed.

Lines the preprocessor does not know (`# a comment`) pass through untouched, as GNU cpp
does in assembler-with-cpp mode; `#line` markers keep every statement's user location.
`#error`, `#warning` and errors in `#if` are reported as cpp reports them, located at the
directive with its source line and a caret.
"""

from __future__ import annotations

import io
import os
import re

from .diagnostics import AsmError, DiagnosticLog, Location

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from .lexer import SourceLines

_LINE_MARKER = re.compile(r'^(#line \d+ ")(.*)"$', re.MULTILINE)
_DIRECTIVE_NAME = re.compile(r"^\s*#\s*(\w+)\s*")
_EVALUATION_FAILED = re.compile(
    r"Could not evaluate expression due to (\w+)\((.*)\) \(passed to evaluator: '(.*)'\)$")
_DIRECTIVE = re.compile(
    r"^\s*#\s*(include|define|undef|if|ifdef|ifndef|elif|else|endif|error|warning|pragma|"
    r"line|include_next)\b", re.MULTILINE)

PACKAGE_INCLUDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")
MAX_INCLUDE_DEPTH = 200  # GNU cpp's limit too
MAX_MACRO_TOKENS = 1_000_000  # a #define bomb (each macro twice the one before) stops here


def needs_preprocessing(text: str) -> bool:
    """Skip the (slow, pure-Python) preprocessor when no directive could change the text."""
    return _DIRECTIVE.search(text) is not None


def preprocess(text: str, filename: str, include_dirs: list[str],
               defines: dict[str, str] | None = None, log: DiagnosticLog | None = None,
               sources: SourceLines | None = None) -> tuple[str, list[str]]:
    """Return the preprocessed text (with #line markers) and every file it included.

    `#warning`s go to `log`; `#error`s and #if errors raise SourceError (all of them, after
    the warnings). `sources` gives the caret lines (without it, they are read from disk)."""
    import pcpp

    log = log if log is not None else DiagnosticLog(filename=filename)
    shown = _ShownNames(filename, [str(d) for d in include_dirs])
    where = _Locator(text, filename, sources, shown)

    class _Pre(pcpp.Preprocessor):
        def on_include_not_found(self, is_malformed, is_system_include, curdir, includepath):
            raise _IncludeMissing(includepath)

        def on_directive_unknown(self, directive, toks, ifpassthru, precedingtoks):
            if directive.value in ("error", "warning"):  # pcpp leaves these to its user
                message = f"#{directive.value} " + "".join(t.value for t in toks).strip()
                loc = where.directive(directive.source, directive.lineno)
                if directive.value == "error":
                    log.error(message, loc)
                else:
                    log.warning(message, loc)
                raise pcpp.OutputDirective(pcpp.Action.IgnoreAndRemove)
            raise pcpp.OutputDirective(pcpp.Action.IgnoreAndPassThrough)

        current = None  # the directive being handled

        def on_error(self, file, line, msg):
            if (file in (None, "unknown") or not line) and self.current is not None:
                file, line = self.current.source, self.current.lineno  # pcpp lost them
            loc = where.directive(file, line or 1)
            log.error(_cpp_message(msg.strip(), loc), loc)
            self.return_code += 1

        def on_comment(self, tok):
            return False

        def on_directive_handle(self, directive, toks, ifpassthru, precedingtoks):
            self.last_args = toks
            self.current = directive
            if directive.value == "include" and self.include_depth > MAX_INCLUDE_DEPTH:
                raise AsmError(f"#include nested more than {MAX_INCLUDE_DEPTH} deep "
                               "(recursive include?)", where.token(directive))
            return super().on_directive_handle(directive, toks, ifpassthru, precedingtoks)

        expanded_tokens = 0
        expanding = None  # the token where the current top-level expansion starts

        def expand_macros(self, tokens, expanding_from=[]):  # noqa: B006 - pcpp's signature
            if not expanding_from and tokens:
                self.expanding = tokens[0]
            try:
                result = super().expand_macros(tokens, expanding_from)
            except RecursionError:
                raise AsmError("#define macros nested too deeply to expand",
                               where.token(self.expanding)) from None
            if expanding_from:  # one macro replaced by its body: count what it made
                self.expanded_tokens += len(result)
                if self.expanded_tokens > MAX_MACRO_TOKENS:
                    raise AsmError(f"#define macros expand to more than {MAX_MACRO_TOKENS} "
                                   "tokens (runaway macro expansion?)",
                                   where.token(self.expanding))
            return result

    pre = _Pre()
    pre.line_directive = "#line"
    pre.compress = 0
    for d in include_dirs:
        pre.add_path(str(d))
    pre.rewrite_paths = []  # every file by its absolute path; shown as the user named it
    for name, value in (defines or {}).items():
        pre.define(f"{name} {value}")
    try:
        pre.parse(text, filename)
        out = io.StringIO()
        pre.write(out)
    except _IncludeMissing as e:
        raise AsmError(f"include file {e.name} not found", _find_include_line(text, filename,
                                                                                  e.name)) from None
    except AsmError:
        raise
    except Exception as e:  # noqa: BLE001 - pcpp fails with IndexError & co on some bad input
        raise _malformed(pre, where, e) from None
    log.check()
    included = [t.included_abspath for t in pre.include_times if t.depth > 0]
    return shown.in_markers(out.getvalue()), included


def _malformed(pre, where: _Locator, error: Exception) -> AsmError:  # noqa: ANN001 - pcpp
    """pcpp raised instead of reporting: name the directive it was handling."""
    directive = getattr(pre, "lastdirective", None)
    if directive is None:
        return AsmError(f"the C preprocessor failed ({type(error).__name__})",
                        Location(where.main, 0))
    name = directive.value
    if not getattr(pre, "last_args", None) and name in ("define", "undef", "ifdef", "ifndef"):
        return AsmError(f"#{name} needs a macro name", where.token(directive))
    return AsmError(f"malformed #{name} directive", where.token(directive))


class _IncludeMissing(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _find_include_line(text: str, filename: str, name: str) -> Location:
    bare = name.strip('"<>')
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#") and "include" in line and bare in line:
            return Location(filename, n, line.index(bare) + 1, line)
    return Location(filename, 1)


class _ShownNames:
    """Files named as the user did: the source exactly as given (it may be a pipe, which must
    not be opened again for a caret line), an included file by the include directory as given,
    else relative to the current directory when under it. (pcpp's own rewriting made /tmp/x.S
    ../../../tmp/x.S, and skips a rewrite that changes nothing, so it is turned off.)"""

    def __init__(self, filename: str, include_dirs: list[str]) -> None:
        self._source = (os.path.abspath(filename), filename)
        self._dirs = sorted(((os.path.abspath(d) + os.sep, d.rstrip(os.sep) + os.sep)
                             for d in include_dirs if d not in ("", ".")),
                            key=lambda rule: -len(rule[0]))  # the deepest directory first
        self._cwd = os.path.abspath("") + os.sep

    def __call__(self, path: str) -> str:
        if path == self._source[0]:
            return self._source[1]
        for prefix, shown in self._dirs:
            if path.startswith(prefix):
                return shown + path[len(prefix) :]
        return path[len(self._cwd) :] if path.startswith(self._cwd) else path

    def in_markers(self, text: str) -> str:
        """The preprocessed text with its #line markers' file names shown."""
        return _LINE_MARKER.sub(lambda m: f'{m[1]}{self(m[2])}"', text)


class _Locator:
    """Locations in the user's files for what pcpp reports (it names files by absolute path):
    a directive's has its source line and the caret at the directive's name, as cpp's."""

    def __init__(self, text: str, filename: str, sources: SourceLines | None,
                 shown: _ShownNames) -> None:
        self.main, self._text, self._sources, self._shown = filename, text, sources, shown
        self._read: dict[str, list[str]] = {}

    def line(self, file: str, number: int) -> str:
        if file == self.main:  # never read again: it may be a pipe
            lines = self._read.setdefault(file, self._text.splitlines())
        elif self._sources is not None:
            return self._sources.line(file, number)
        else:
            if file not in self._read:
                from .lexer import read_source

                try:
                    self._read[file] = read_source(file).splitlines()
                except OSError:
                    self._read[file] = []
            lines = self._read[file]
        return lines[number - 1] if 0 < number <= len(lines) else ""

    def directive(self, source: str | None, number: int) -> Location:
        file = self._shown(source) if source else self.main
        text = self.line(file, number)
        m = _DIRECTIVE_NAME.match(text)
        return Location(file, number, m.start(1) + 1 if m else 1, text)

    def token(self, tok) -> Location:  # noqa: ANN001 - a pcpp token
        source = getattr(tok, "source", None)
        return Location(self._shown(source) if source else self.main,
                        getattr(tok, "lineno", 0) or 1)


def _cpp_message(message: str, loc: Location) -> str:
    """pcpp's "Could not evaluate expression due to SyntaxError('at EOF') (passed to evaluator:
    '1 +')" as cpp would say it: "#if: cannot evaluate '1 +': syntax error at its end"."""
    name = _DIRECTIVE_NAME.match(loc.text)
    directive = f"#{name.group(1)}" if name else "#if"
    if message == "Empty expression":
        return f"{directive} with no expression"
    if message.startswith("Misplaced #"):
        return f"{message.split()[1]} without #if"
    if message.startswith("Unterminated #"):
        return f"unterminated {message.split()[1]}"
    m = _EVALUATION_FAILED.match(message)
    if m is None:
        return message
    kind, detail, expression = m.groups()
    if kind == "ZeroDivisionError":
        reason = "division by zero"
    elif kind == "SyntaxError":
        detail = detail.strip("'\"")
        reason = "syntax error" + (" at its end" if detail == "at EOF" else f" {detail}" if
                                   detail else "")
    else:
        reason = f"{kind} {detail}".strip()
    return f"{directive}: cannot evaluate '{expression}': {reason}"

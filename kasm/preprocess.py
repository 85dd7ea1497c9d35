"""C preprocessing of `.S` files (`#include`, `#define`, `#if`) with pcpp, no cpp needed.

Lines the preprocessor does not know (`# a comment`) pass through untouched, as GNU cpp
does in assembler-with-cpp mode; `#line` markers keep every statement's user location.
"""

from __future__ import annotations

import io
import os
import re

from .diagnostics import AsmError, Location

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
               defines: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Return the preprocessed text (with #line markers) and every file it included."""
    import pcpp

    errors: list[AsmError] = []

    class _Pre(pcpp.Preprocessor):
        def on_include_not_found(self, is_malformed, is_system_include, curdir, includepath):
            raise _IncludeMissing(includepath)

        def on_directive_unknown(self, directive, toks, ifpassthru, precedingtoks):
            if directive.value == "error":  # pcpp leaves #error to its user
                message = "".join(t.value for t in toks).strip()
                errors.append(AsmError(f"#error {message}",
                                       Location(directive.source or filename, directive.lineno)))
                raise pcpp.OutputDirective(pcpp.Action.IgnoreAndRemove)
            raise pcpp.OutputDirective(pcpp.Action.IgnoreAndPassThrough)

        def on_error(self, file, line, msg):
            errors.append(AsmError(msg.strip(), Location(file or filename, line or 1)))
            self.return_code += 1

        def on_comment(self, tok):
            return False

        def on_directive_handle(self, directive, toks, ifpassthru, precedingtoks):
            self.last_args = toks
            if directive.value == "include" and self.include_depth > MAX_INCLUDE_DEPTH:
                raise AsmError(f"#include nested more than {MAX_INCLUDE_DEPTH} deep "
                               "(recursive include?)", _where(directive, filename))
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
                               _where(self.expanding, filename)) from None
            if expanding_from:  # one macro replaced by its body: count what it made
                self.expanded_tokens += len(result)
                if self.expanded_tokens > MAX_MACRO_TOKENS:
                    raise AsmError(f"#define macros expand to more than {MAX_MACRO_TOKENS} "
                                   "tokens (runaway macro expansion?)",
                                   _where(self.expanding, filename))
            return result

    pre = _Pre()
    pre.line_directive = "#line"
    pre.compress = 0
    for d in include_dirs:
        pre.add_path(str(d))
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
        raise _malformed(pre, filename, e) from None
    if errors:
        raise errors[0]
    included = [t.included_abspath for t in pre.include_times if t.depth > 0]
    return out.getvalue(), included


def _where(tok, filename: str) -> Location:  # noqa: ANN001 - a pcpp token
    return Location(getattr(tok, "source", None) or filename, getattr(tok, "lineno", 0) or 1)


def _malformed(pre, filename: str, error: Exception) -> AsmError:  # noqa: ANN001 - pcpp
    """pcpp raised instead of reporting: name the directive it was handling."""
    directive = getattr(pre, "lastdirective", None)
    if directive is None:
        return AsmError(f"the C preprocessor failed ({type(error).__name__})",
                        Location(filename, 0))
    name = directive.value
    if not getattr(pre, "last_args", None) and name in ("define", "undef", "ifdef", "ifndef"):
        return AsmError(f"#{name} needs a macro name", _where(directive, filename))
    return AsmError(f"malformed #{name} directive", _where(directive, filename))


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

"""The pipeline: preprocess → lex → parse → stream → layout → link → Image.

File names are strings throughout, used as given (as GNU as shows them): pathlib would cost
a first `kasm run` several milliseconds of imports.
"""

from __future__ import annotations

import os

from vmm.values import Record
from vmm.vocabulary import DEFAULT_BASE

from .diagnostics import AsmError, Diagnostic, DiagnosticLog, Location, SourceError
from .image import Image
from .layout import layout
from .lexer import CollectorPaused, SourceLines, decode_source, read_source, split_statements
from .linker import link
from .parser import Parser
from .preprocess import PACKAGE_INCLUDE, needs_preprocessing, preprocess
from .streamer import Streamer


class BuildResult(Record):
    __slots__ = ("image", "warnings", "inputs")

    def __init__(self, image: Image, warnings: list[Diagnostic] | None = None,
                 inputs: list[str] | None = None) -> None:
        self.image = image
        self.warnings = [] if warnings is None else warnings
        self.inputs = [] if inputs is None else inputs  # every file read besides the source


def build_source(text: str, filename: str = "<string>", *, base: int = DEFAULT_BASE,
                 include_dirs: list[str | os.PathLike[str]] | None = None,
                 defines: dict[str, str] | None = None,
                 cpp: bool | None = None) -> BuildResult:
    """Assemble and link source text. Raises SourceError with every diagnostic found."""
    log = DiagnosticLog(filename=filename)
    here = (os.path.dirname(filename) or ".") if filename != "<string>" else os.getcwd()
    dirs = [here, *(os.fspath(d) for d in include_dirs or []), PACKAGE_INCLUDE]
    sources = SourceLines()
    sources.add(filename, text)
    inputs: list[str] = []
    try:
        if cpp is None:
            cpp = not filename.endswith(".s")
        if cpp and needs_preprocessing(text):
            text, inputs = preprocess(text, filename, dirs, defines, log, sources)
        with CollectorPaused():  # see there: ~15% of a big build
            statements = split_statements(text, filename, sources)
            streamer = Streamer(log)
            parser = Parser(streamer, log, sources, include_dirs=dirs[1:])
            parser.run(statements)
            inputs += parser.included
            parsed = not log.errors
            # layout runs after parse errors too (a backwards .org, a branch out of reach are
            # reported with them, as GNU as does); linking does not: a statement in error may
            # have left a symbol undefined, and ld never runs after a failed as
            obj = layout(streamer.finish(), log)
            if not parsed:
                log.check()
            image = link(obj, base, log, os.getcwd(), filename)
    except AsmError as e:
        log.items.append(Diagnostic("error", e.message, e.loc or Location(filename, 0)))
        raise SourceError(log.items) from None
    return BuildResult(image, log.warnings, inputs)


def build_file(path: str | os.PathLike[str], **kwargs: object) -> BuildResult:
    path = os.fspath(path)
    text = read_source(path)
    return build_source(text, path, **kwargs)  # type: ignore[arg-type]


def build_bytes(data: bytes, filename: str, **kwargs: object) -> BuildResult:
    """Build source already read (from stdin or a pipe, which cannot be read twice)."""
    return build_source(decode_source(data), filename, **kwargs)  # type: ignore[arg-type]

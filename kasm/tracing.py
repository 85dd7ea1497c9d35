"""`kasm run --trace[=FILE]`, `--trace-exits`, the trace limits, and `-v`'s register watch:
the options turned into a vmm Tracer (or RegisterWatch) and the symbolizer a run gets.

Limits name places by address (`0x1004`) or by label (`print_loop`): `--trace-count N` writes
the first N instructions, `--trace-from PLACE` starts at the first time the guest runs PLACE,
`--trace-range RANGE` writes only the instructions inside RANGE (`START-END`, `START+LENGTH`,
or a label: from it to the next label). A label the program does not have is a usage error.
"""

from __future__ import annotations

import sys

from vmm.values import Value

from .failures import BUILD_ERROR, Failed, UsageError, error
from .image import Image

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from vmm.monitor import Monitor
    from vmm.trace import TraceOptions

    from .symbolize import ImageSymbolizer

STDERR = "-"


class TraceRequest(Value):
    """The trace options as given on the command line (None: not given)."""

    __slots__ = ("file", "exits", "count", "start", "range")

    def __init__(self, file: str | None = None, exits: bool = False, count: int | None = None,
                 start: str | None = None, range: str | None = None) -> None:  # noqa: A002
        self.file, self.exits, self.count, self.start, self.range = (
            file, exits, count, start, range)

    @property
    def wanted(self) -> bool:
        return self.file is not None or self.exits

    def check(self) -> None:
        """What can be told before anything is built."""
        if self.count is not None and self.count < 0:
            raise UsageError(f"{self.count}: give a number of instructions (0 or more)",
                             "'--trace-count'")
        if self.file is None and (self.count is not None or self.start or self.range):
            option = ("--trace-count" if self.count is not None else
                      "--trace-from" if self.start else "--trace-range")
            raise UsageError("limits a trace: add --trace (or --trace=FILE)", f"'{option}'")
        if self.file == "":
            raise UsageError("'' is not a file name (--trace alone writes to stderr)",
                             "'--trace'")


def place(text: str, symbols: ImageSymbolizer | None, name: str, option: str) -> int:
    """An address (0x1004, 4100) or a label's address."""
    text = text.strip()
    try:
        value = int(text, 0)
    except ValueError:
        value = None
    if value is not None:
        if not 0 <= value < 1 << 64:
            raise UsageError(f"'{text}' is out of range", option)
        return value
    if symbols is None:
        raise UsageError(f"'{text}' is not an address, and {name} has no symbols to name a "
                         "label", option)
    address = symbols.address_of(text)
    if address is None:
        raise UsageError(f"no label '{text}' in {name}", option)
    return address


def address_range(text: str, symbols: ImageSymbolizer | None, name: str) -> tuple[int, int]:
    option = "'--trace-range'"
    for sep in ("-", "+"):
        if sep in text.strip()[1:]:
            head, tail = text.strip().split(sep, 1)
            start = place(head, symbols, name, option)
            end = place(tail, symbols, name, option)
            end = start + end if sep == "+" else end
            if end <= start:
                raise UsageError(f"'{text}' is an empty range", option)
            return start, end
    if symbols is not None:
        extent = symbols.extent(text.strip())
        if extent is not None:
            return extent
    start = place(text, symbols, name, option)
    return start, start + 1


def trace_options(request: TraceRequest, symbols: ImageSymbolizer | None, name: str
                  ) -> TraceOptions:
    from vmm.trace import TraceOptions

    start = (place(request.start, symbols, name, "'--trace-from'")
             if request.start else None)
    ranges = ((address_range(request.range, symbols, name),) if request.range else ())
    return TraceOptions(instructions=request.file is not None, exits=request.exits,
                        count=request.count, start=start, ranges=ranges)


def open_output(path: str | None) -> TextIO:
    """Where trace lines go: stderr, or the file (a big buffer: millions of lines)."""
    if path is None or path == STDERR:
        return sys.stderr
    try:
        return open(path, "w", buffering=1 << 20)  # noqa: SIM115 - closed by finish()
    except OSError as e:
        error(f"cannot write the trace to {path}: {e.strerror}")
        raise Failed(BUILD_ERROR) from None


class RunWatch:
    """What a run is watched with: the monitor (a Tracer, a RegisterWatch for -v, or none)
    and the symbolizer; `finish()` closes the trace file and says what -v adds."""

    def __init__(self, request: TraceRequest, verbose: bool, image: Image | None,
                 name: str) -> None:
        from .symbolize import ImageSymbolizer

        self.symbolizer = ImageSymbolizer(image) if image is not None else None
        self.monitor: Monitor | None = None
        self._out: TextIO | None = None
        if request.wanted:
            from vmm.trace import Tracer

            options = trace_options(request, self.symbolizer, name)
            self._out = open_output(request.file if request.file is not None else STDERR)
            self.monitor = Tracer(self._out, options, self.symbolizer)
        elif verbose:
            from vmm.trace import RegisterWatch

            self.monitor = RegisterWatch()

    def settings(self) -> dict[str, object]:
        """Machine.run's arguments for this watch."""
        out: dict[str, object] = {"monitor": self.monitor}
        if self.symbolizer is not None:
            out["symbolizer"] = self.symbolizer
        return out

    def finish(self) -> str:
        """The "changed last" line for -v ("" when nothing watched the registers)."""
        if self._out is not None and self._out is not sys.stderr:
            try:
                self._out.close()
            except OSError as e:
                error(f"cannot write the trace: {e.strerror}")
        change = getattr(self.monitor, "last_change", "")
        return f"changed last: {change}" if change else ""


def read_elf_image(source: str | bytes, name: str):  # noqa: ANN201 - a kasm Image or None
    """The symbols and line table of an ELF to run, for traces and reports (None when kasm
    cannot read it: vmm's loader then says what is wrong with it)."""
    from .elfread import ElfError, read_elf

    try:
        data = source if isinstance(source, bytes) else open(source, "rb").read()  # noqa: SIM115
        return read_elf(data, name)[0]
    except (OSError, ElfError):
        return None


def run_watch(trace, verbose: bool, image, name: str):  # noqa: ANN001, ANN201
    """A kasm.tracing.RunWatch when the run is traced or verbose; else one that only hands
    vmm a symbolizer (built only if a report asks it something)."""
    if (trace is not None and trace.wanted) or verbose:
        from .tracing import RunWatch, TraceRequest

        return RunWatch(trace or TraceRequest(), verbose, image, name)
    return _Unwatched(image)


class _Unwatched:
    def __init__(self, image) -> None:  # noqa: ANN001 - a kasm Image or None
        self._image = image

    def settings(self) -> dict[str, object]:
        return {} if self._image is None else {"symbolizer": _LazySymbolizer(self._image)}

    def finish(self) -> str:
        return ""


class _LazySymbolizer:
    """A kasm.symbolize.ImageSymbolizer made on the first question (most runs ask none: a
    clean run's start-up does not pay for importing it)."""

    def __init__(self, image) -> None:  # noqa: ANN001 - a kasm Image
        self._image = image
        self._real = None

    def __getattr__(self, name: str) -> object:
        if self._real is None:
            from .symbolize import ImageSymbolizer

            self._real = ImageSymbolizer(self._image)
        return getattr(self._real, name)

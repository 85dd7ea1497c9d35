"""The guest's console streams: one ordered output for every device, one shared input."""

from __future__ import annotations

import os
import select
from collections.abc import Callable

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import BinaryIO

DEFAULT_BUFFER = 8192


class ConsoleOutput:
    """Bounded write buffer in front of a binary sink: flushed when full and at the end.

    A guest printing a byte per exit must not cost a write(2) per byte, and a guest printing
    forever must not grow memory.
    """

    def __init__(self, sink: BinaryIO, capacity: int = DEFAULT_BUFFER) -> None:
        self._sink = sink
        self._buf = bytearray()
        self._capacity = capacity
        self.bytes_written = 0
        self.closed = False  # the reader went away (`| head`): devices stop the guest
        self.failure: str | None = None  # why writing failed otherwise (a full disk)

    def write_through(self) -> None:
        """From now on every write reaches the sink at once (a debugger's stops and a tracer's
        lines then come in order with the guest's output)."""
        self._capacity = 1

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        self._buf += data
        self.bytes_written += len(data)
        if len(self._buf) >= self._capacity:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            try:
                self._sink.write(data)
                self._sink.flush()
            except (BrokenPipeError, ValueError):
                self.closed = True  # the reader went away (`| head`) or the sink was closed
            except OSError as e:
                self.closed = True
                self.failure = f"cannot write the guest's output: {e.strerror or e}"


CTRL_D = 0x04  # a terminal's VEOF key
CTRL_V = 0x16  # a terminal's VLNEXT key: the next key is taken literally


class TerminalKeys:
    """A terminal line discipline's Ctrl-D and Ctrl-V, for keys a guest reads as typed.

    While a guest runs, kasm turns the terminal's own line editing off (so keys arrive at
    once), which would also make Ctrl-D a plain 0x04. As in canonical mode, Ctrl-D at the start
    of a line is end of input; mid-line it would send the line typed so far, which has already
    gone, so it is dropped, and a second Ctrl-D is then end of input. Ctrl-V makes the next key
    literal: Ctrl-V Ctrl-D gives the guest 0x04, Ctrl-V Ctrl-V gives 0x16.
    """

    END = -1

    def __init__(self) -> None:
        self.line_start = True
        self.literal = False

    def key(self, byte: int) -> int | None:
        """The byte for the guest, None for a key that gives none, or END."""
        if self.literal:
            self.literal = False
        elif byte == CTRL_V:
            self.literal = True
            return None
        elif byte == CTRL_D:
            if self.line_start:
                return self.END
            self.line_start = True
            return None
        self.line_start = byte == 0x0A
        return byte


def _keys_as_typed(fd: int) -> bool:
    """A terminal in non-canonical mode: its keys need TerminalKeys."""
    if not os.isatty(fd):
        return False
    import termios

    try:
        return not termios.tcgetattr(fd)[3] & termios.ICANON
    except termios.error:
        return False


class ConsoleInput:
    """Byte-at-a-time input for the guest, with a non-blocking "is a byte ready?" for LSR.DR.

    Real files/pipes/ttys are read with os.read on their descriptor so readiness can be polled
    with select; other readables (BytesIO) are read directly and never block. A terminal whose
    line editing is off gets TerminalKeys' Ctrl-D and Ctrl-V.
    """

    def __init__(
        self, source: BinaryIO | None, cancelled: Callable[[], bool] | None = None
    ) -> None:
        self._source = source
        self._cancelled = cancelled
        self._fd: int | None = None
        if source is not None:
            try:
                self._fd = source.fileno()
            except (AttributeError, OSError, ValueError):
                self._fd = None
        self._keys = TerminalKeys() if self._fd is not None and _keys_as_typed(self._fd) else None
        self._peeked: int | None = None
        self._eof = source is None

    def _read1(self, block: bool = True) -> int | None:
        """The next byte; None at end of input, or (when not blocking) when none is ready."""
        while not self._eof:
            try:
                if self._fd is not None:
                    if not (self._wait_readable() if block else self._readable_now()):
                        return None
                    data = os.read(self._fd, 1)
                else:
                    data = self._source.read(1)  # type: ignore[union-attr]
            except OSError:
                data = b""
            if not data:
                self._eof = True
                return None
            if self._keys is None:
                return data[0]
            byte = self._keys.key(data[0])
            if byte == TerminalKeys.END:
                self._eof = True
                return None
            if byte is not None:
                return byte
        return None

    def _readable_now(self) -> bool:
        try:
            readable, _, _ = select.select([self._fd], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(readable)

    def _wait_readable(self) -> bool:
        """Block until the descriptor is readable, but give up when the run is being stopped
        (watchdog timeout), so a guest waiting for input cannot outlive its timeout."""
        while True:
            try:
                readable, _, _ = select.select([self._fd], [], [], 0.05)
            except (OSError, ValueError):
                return True  # let os.read report the problem
            if readable:
                return True
            if self._cancelled is not None and self._cancelled():
                return False

    def waitable_fd(self) -> int | None:
        """The descriptor to wait on for the next byte: None when a byte is already here, at
        the end, or for a source without one (whose bytes are there at once)."""
        if self._peeked is not None or self._eof:
            return None
        return self._fd

    @property
    def at_end(self) -> bool:
        """True once the input is known to be exhausted (no byte pending)."""
        return self._peeked is None and self._eof

    def ready(self) -> bool:
        """True when read_byte() would return a byte without blocking."""
        if self._peeked is not None:
            return True
        if self._eof:
            return False
        self._peeked = self._read1(block=False)
        return self._peeked is not None

    def read_byte(self) -> int | None:
        """The next byte (blocking if the source blocks), or None at end of input."""
        if self._peeked is not None:
            b, self._peeked = self._peeked, None
            return b
        return self._read1()

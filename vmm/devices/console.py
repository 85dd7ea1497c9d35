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


class ConsoleInput:
    """Byte-at-a-time input for the guest, with a non-blocking "is a byte ready?" for LSR.DR.

    Real files/pipes/ttys are read with os.read on their descriptor so readiness can be polled
    with select; other readables (BytesIO) are read directly and never block.
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
        self._peeked: int | None = None
        self._eof = source is None

    def _read1(self) -> int | None:
        if self._eof:
            return None
        try:
            if self._fd is not None:
                if not self._wait_readable():
                    return None
                data = os.read(self._fd, 1)
            else:
                data = self._source.read(1)  # type: ignore[union-attr]
        except OSError:
            data = b""
        if not data:
            self._eof = True
            return None
        return data[0]

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
        if self._fd is not None:
            try:
                readable, _, _ = select.select([self._fd], [], [], 0)
            except (OSError, ValueError):
                return False
            if not readable:
                return False
        self._peeked = self._read1()
        return self._peeked is not None

    def read_byte(self) -> int | None:
        """The next byte (blocking if the source blocks), or None at end of input."""
        if self._peeked is not None:
            b, self._peeked = self._peeked, None
            return b
        return self._read1()

"""The process's terminal and stdout while a guest runs from a command line (kasm run,
python -m vmm).

On a terminal the guest gets keys as typed (no echo, no line editing; the console input then
treats Ctrl-D as a line discipline would). The terminal is restored on every way out: a normal
end, Ctrl-C (the run loop stops the guest: exit 130), and SIGTERM, SIGQUIT and SIGHUP, which
would otherwise end the process with the terminal still raw: they stop the run by raising
`Signalled`, and the command exits with 128 + the signal's number, as a shell reports a process
it killed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import BinaryIO

# SIGHUP, SIGQUIT, SIGTERM: the same numbers on every Linux architecture kasm runs on; the
# signal module is only imported when a terminal needs the handlers.
STOPPING_SIGNALS = {1: "SIGHUP", 3: "SIGQUIT", 15: "SIGTERM"}


class Signalled(BaseException):
    """A stopping signal arrived while the guest ran on a terminal (BaseException, like
    KeyboardInterrupt: no `except Exception` on the way may swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = STOPPING_SIGNALS.get(signum, f"signal {signum}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def terminal_for_guest() -> Iterator[None]:
    """Key-by-key input while the guest runs, when stdin is a terminal; restored always."""
    fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
    if fd is None:
        yield
        return
    import signal
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    arrived: list[int] = []

    def stop(signum: int, frame: object) -> None:
        if not arrived:  # a second signal while the first unwinds must not cut the restore
            arrived.append(signum)
            raise Signalled(signum)

    previous = {s: signal.signal(s, stop) for s in STOPPING_SIGNALS}
    try:
        tty.setcbreak(fd)
        yield
    finally:
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        for s, handler in previous.items():
            signal.signal(s, handler)


class GuestOutput:
    """The sink vmm writes the guest's output to: stdout, or nothing when stdout is closed.

    It remembers the last byte, so that the command's own messages after the run can start on
    a line of their own, and counts the bytes, so that output lost to a closed stdout is
    noticed."""

    def __init__(self, sink: BinaryIO | None) -> None:
        self._sink = sink
        self.bytes_written = 0
        self.last = b""

    @classmethod
    def for_stdout(cls) -> GuestOutput:
        return cls(sys.stdout.buffer if sys.stdout is not None else None)

    @property
    def discarded(self) -> bool:
        """True when the guest printed something that nothing could receive (`>&-`)."""
        return self._sink is None and self.bytes_written > 0

    def write(self, data: bytes) -> int:
        if data:
            self.bytes_written += len(data)
            self.last = data[-1:]
        if self._sink is not None:
            self._sink.write(data)
        return len(data)

    def flush(self) -> None:
        if self._sink is not None:
            self._sink.flush()

    def ends_mid_line(self) -> bool:
        """True when the guest's output has no final newline and the command's messages on
        stderr would be glued to it (stdout and stderr are the same terminal, file or pipe)."""
        if self._sink is None or self.last in (b"", b"\n"):
            return False
        try:
            out, err = os.fstat(1), os.fstat(2)
        except (OSError, ValueError):
            return False
        return (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)


class Reporter:
    """Says things on stderr for one command (`prog`: "kasm", "vmm")."""

    def __init__(self, prog: str) -> None:
        self.prog = prog

    def say(self, text: str) -> None:
        """One message on stderr (a closed stderr loses it rather than raising)."""
        if sys.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                print(text, file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        self.say(f"{self.prog}: warning: {message}")

    def error(self, message: str) -> None:
        self.say(f"{self.prog}: error: {message}")


def settle_stdout() -> None:
    """Flush stdout now. If that fails (its reader went away, the disk is full), the failure
    has been reported already: point the descriptor at /dev/null so that the interpreter's
    own flush at exit does not fail again (it would print "Exception ignored" and exit 120)."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

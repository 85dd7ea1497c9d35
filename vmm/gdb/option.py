"""`--gdb[=PORT]` on a command line (`kasm run`, `python -m vmm`): the port, and the stub a run
is watched by, with the ELF gdb reads the program's symbols from.

Importing this module is cheap (the stub loads only when a run asks for it): kasm's command
line imports it to read its arguments.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from vmm.gdb.stub import GdbStub
    from vmm.terminal import Reporter

DEFAULT_PORT = 1234
OPTION = "--gdb"


def parse_port(text: str, cpus: int = 1) -> int:
    """A TCP port number, 0 (any free port) to 65535, for a run of one vCPU; ValueError says
    what is wrong."""
    try:
        port = int(text, 10)
    except ValueError:
        raise ValueError(f"'{text}' is not a port number (1-65535, or 0 for any free "
                         "port)") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port number (1-65535, or 0 for any free port)")
    if cpus != 1:
        raise ValueError(f"gdb debugs one vCPU, not {cpus}: leave out --cpus")
    return port


def with_default_port(args: list[str]) -> list[str]:
    """The arguments with a bare `--gdb` spelled `--gdb=1234`: the port is optional, and only
    `--gdb=PORT` gives one (as with `--color[=WHEN]`), so `--gdb prog.S` means the file."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        out.append(f"{OPTION}={DEFAULT_PORT}" if arg == OPTION else arg)
    return out


@contextlib.contextmanager
def stub(port: int | None, elf: bytes | str | None, name: str,
         reporter: Reporter) -> Iterator[GdbStub | None]:
    """A stub listening on 127.0.0.1:`port` (None: no stub, and nothing imported) that names
    `elf` to gdb: a path, or an ELF's bytes, written to a temporary file for the run (a
    source built in memory has no ELF on disk). GdbError (a VmmError) when it cannot listen."""
    if port is None:
        yield None
        return
    import shutil
    import tempfile

    from vmm.gdb.stub import GdbStub

    directory = None
    try:
        if isinstance(elf, bytes):
            directory = tempfile.mkdtemp(prefix="vmm-gdb-")
            path: str | None = os.path.join(directory, name + ".elf")
            with open(path, "wb") as f:
                f.write(elf)
        else:
            path = None if elf is None else os.path.abspath(elf)
        yield GdbStub.listen(port, exec_file=path,
                             log=lambda text: reporter.say(f"{reporter.prog}: {text}"))
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

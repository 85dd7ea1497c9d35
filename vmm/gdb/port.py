"""`--gdb[=PORT]` for a command line (kasm's and vmm's), without loading the stub."""

from __future__ import annotations

DEFAULT_PORT = 1234
OPTION = "--gdb"


def parse_port(text: str) -> int:
    """A TCP port number, 0 (any free port) to 65535; ValueError says what is wrong."""
    try:
        port = int(text, 10)
    except ValueError:
        raise ValueError(f"'{text}' is not a port number (1-65535, or 0 for any free "
                         "port)") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port number (1-65535, or 0 for any free port)")
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

"""The `kasm` program's entry point.

`kasm run FILE` and `kasm build FILE`, the commands people type most, are dispatched here
without importing typer: typer's import (~40 ms) costs more than a whole cached run of a small
guest, and more than GNU as+ld+objcopy take for a small build. Any other command line, options
included, goes to kasm.cli, which parses and documents it.
"""

from __future__ import annotations

import sys


def _plain_command(args: list[str]) -> str | None:
    """"run" or "build" for `kasm run FILE` / `kasm build FILE` (FILE may be - for stdin)."""
    if len(args) == 2 and args[0] in ("run", "build"):
        if args[1] == "-" or not args[1].startswith("-"):
            return args[0]
    return None


def _plain(command: str, file: str) -> int:
    from kasm import commands

    try:
        if command == "run":
            return commands.run(file)
        commands.build(file)
        return 0
    except commands.Failed as e:
        return e.code
    except commands.UsageError:  # `kasm build -` without -o: as the full CLI says it
        from kasm.cli import main as cli_main

        cli_main()  # parses the same command line again and reports the usage error
        return commands.USAGE_ERROR  # pragma: no cover - cli_main exits


def main() -> None:
    args = sys.argv[1:]
    try:
        command = _plain_command(args)
        if command is not None:
            sys.exit(_plain(command, args[1]))
        from kasm.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:  # Ctrl-C outside a guest run (a guest run reports it itself)
        from kasm import commands

        commands.say("kasm: interrupted")
        sys.exit(commands.INTERRUPTED)

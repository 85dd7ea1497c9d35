"""The `kasm` program's entry point.

`kasm run FILE`, the command people type most, is dispatched here without importing typer:
typer's import (~40 ms) costs more than a whole cached run of a small guest. Any other command
line, options included, goes to kasm.cli, which parses and documents it.
"""

from __future__ import annotations

import sys


def _is_plain_run(args: list[str]) -> bool:
    return len(args) == 2 and args[0] == "run" and not args[1].startswith("-")


def _plain_run(file: str) -> int:
    from kasm import commands

    try:
        return commands.run(file)
    except commands.Failed as e:
        return e.code
    except commands.UsageError as e:  # pragma: no cover - the defaults are valid
        commands.error(e.message)
        return commands.USAGE_ERROR


def main() -> None:
    args = sys.argv[1:]
    try:
        if _is_plain_run(args):
            sys.exit(_plain_run(args[1]))
        from kasm.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:  # Ctrl-C outside a guest run (a guest run reports it itself)
        from kasm import commands

        commands.say("kasm: interrupted")
        sys.exit(commands.INTERRUPTED)

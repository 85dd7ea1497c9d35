"""The `kasm` program's entry point.

`kasm run FILE`, the command people type most, is dispatched here without importing typer:
typer's import (~40 ms) costs more than a whole cached run of a small guest. Any other command
line, options included, goes to kasm.cli, which parses and documents it.
"""

from __future__ import annotations

import sys


def _is_plain_run(args: list[str]) -> bool:
    return len(args) == 2 and args[0] == "run" and not args[1].startswith("-")


def main() -> None:
    args = sys.argv[1:]
    if not _is_plain_run(args):
        from kasm.cli import main as cli_main

        cli_main()
        return
    from kasm import commands

    try:
        code = commands.run(args[1])
    except commands.Failed as e:
        code = e.code
    except commands.UsageError as e:  # pragma: no cover - the defaults are valid
        commands.error(e.message)
        code = commands.USAGE_ERROR
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C outside a guest run
        commands.say("kasm: interrupted")
        code = 130
    sys.exit(code)

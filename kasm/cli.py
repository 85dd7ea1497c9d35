"""The `kasm` command line (typer): options and help for `kasm build` and `kasm run`.

The work is in kasm.commands; a plain `kasm run FILE` does not even come here (kasm.entry).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from . import commands
from .commands import DEFAULT_BASE, DEFAULT_MEM, DEFAULT_TIMEOUT, MAX_TIMEOUT

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Assemble a tiny x86 program (GNU as syntax) and boot it in a KVM virtual machine.",
)

ModeChoice = Enum("ModeChoice", {m: m for m in commands.MODES}, type=str)  # type: ignore[misc]

IncludeOpt = Annotated[list[Path], typer.Option("-I", "--include", help="Add a directory to "
                                                "the include search path.", metavar="DIR")]
DefineOpt = Annotated[list[str], typer.Option("-D", "--define", help="Define a preprocessor "
                                              "macro (NAME or NAME=VALUE).", metavar="NAME[=V]")]
BaseOpt = Annotated[str, typer.Option("--base", help="Load address of .text.", metavar="ADDR")]

T = TypeVar("T")


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _texts(paths: list[Path]) -> list[str]:
    return [str(p) for p in paths]


def _carry_out(command: Callable[..., T], *args: object) -> T:
    """Run a kasm.commands function, turning its outcomes into typer's exits."""
    try:
        return command(*args)
    except commands.UsageError as e:
        raise typer.BadParameter(e.message, param_hint=e.param) from None
    except commands.Failed as e:
        raise typer.Exit(e.code) from None
    except KeyboardInterrupt:  # Ctrl-C while building (a guest run reports it itself)
        commands.say("kasm: interrupted")
        raise typer.Exit(commands.INTERRUPTED) from None


@app.command()
def build(
    file: Annotated[str, typer.Argument(help="Assembly source (.S is C-preprocessed).",
                                                metavar="FILE")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Flat image path "
                      "(default FILE.bin); the ELF goes beside it as .elf.")] = None,
    base: BaseOpt = DEFAULT_BASE,
    map_: Annotated[bool, typer.Option("--map", help="Print each section's range and each "
                                       "symbol's address.")] = False,
    include: IncludeOpt = [],  # noqa: B006 - typer reads the default
    define: DefineOpt = [],  # noqa: B006
) -> None:
    """Assemble and link FILE into a flat image (FILE.bin) and an ELF with symbols (FILE.elf)."""
    _carry_out(commands.build, file, _text(output), base, map_, _texts(include), define)


@app.command()
def run(
    file: Annotated[str, typer.Argument(help="Assembly source, or a .bin/.elf image.",
                                              metavar="FILE")],
    base: BaseOpt = DEFAULT_BASE,
    mem: Annotated[str, typer.Option("--mem", help="Guest RAM size (e.g. 2M, 64M, 4G).")] = (
        DEFAULT_MEM),
    cpus: Annotated[int, typer.Option("--cpus", help="Number of vCPUs; each starts at the "
                    "entry, with a stack of its own (see README).", min=1, metavar="N")] = 1,
    mode: Annotated[ModeChoice | None, typer.Option("--mode", help="CPU mode to boot in "
                    "(default: from the source's first .code16/.code32/.code64).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Stop the guest after this many "
                       f"seconds (0: never; at most {MAX_TIMEOUT:g}).", min=0)] = DEFAULT_TIMEOUT,
    stats: Annotated[bool, typer.Option("--stats", help="Print exit statistics to stderr "
                     "after the run.")] = False,
    stats_json: Annotated[Path | None, typer.Option("--stats-json", help="Write exit "
                          "statistics as JSON to this file.", metavar="FILE")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Make an access to a port no device "
                      "owns a guest fault.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Print the register dump "
                       "whenever the run ends abnormally.")] = False,
    include: IncludeOpt = [],  # noqa: B006
    define: DefineOpt = [],  # noqa: B006
) -> None:
    """Build FILE and boot it in a KVM virtual machine; guest output goes to stdout.

    The exit code is the guest's HC_EXIT status (0 after HLT), or one of the VMM's codes
    (see README)."""
    code = _carry_out(partial(commands.run, cpus=cpus), file, base, mem,
                      mode.value if mode else None, timeout, stats, _text(stats_json), strict,
                      verbose, _texts(include), define)
    raise typer.Exit(code)


def main() -> None:
    app(prog_name="kasm")

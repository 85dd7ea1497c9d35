"""The `kasm` command line (typer): options and help for `kasm build` and `kasm run`.

The work is in kasm.commands; a plain `kasm run FILE` does not even come here (kasm.entry).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from typing import Annotated, TypeVar

import typer
from typer.core import TyperCommand

from . import commands
from .commands import DEFAULT_MEM, DEFAULT_TIMEOUT, MAX_TIMEOUT

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings=HELP_OPTIONS,
    help="Assemble a tiny x86 program (GNU as syntax) and boot it in a KVM virtual machine.",
)


class _Command(TyperCommand):
    """Usage lines as man pages write them: `kasm run [OPTIONS] FILE` (typer writes {FILE})."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p
                for p in super().collect_usage_pieces(ctx)]


ModeChoice = Enum("ModeChoice", {m: m for m in commands.MODES}, type=str)  # type: ignore[misc]
BackendChoice = Enum("BackendChoice", {b: b for b in commands.BACKENDS},  # type: ignore[misc]
                     type=str)

FileArg = Annotated[str, typer.Argument(metavar="FILE", show_default=False, help=(
    "Assembly source (.S is C-preprocessed, .s is not; - reads stdin)."))]
IncludeOpt = Annotated[list[str], typer.Option(
    "-I", "--include", metavar="DIR", help="Add a directory to the include search path.")]
DefineOpt = Annotated[list[str], typer.Option(
    "-D", "--define", metavar="NAME[=VALUE]", help="Define a preprocessor macro.")]
BaseOpt = Annotated[str | None, typer.Option(
    "--base", metavar="ADDR", help=f"Load address of .text.  [default: {commands.DEFAULT_BASE}]")]

T = TypeVar("T")


_command_started = False  # from here on an OSError is the command's, not typer's help output


def _carry_out(command: Callable[..., T], *args: object) -> T:
    """Run a kasm.commands function, turning its outcomes into typer's exits."""
    global _command_started
    _command_started = True
    try:
        return command(*args)
    except commands.UsageError as e:
        raise typer.BadParameter(e.message, param_hint=e.param) from None
    except commands.Failed as e:
        raise typer.Exit(e.code) from None
    except KeyboardInterrupt:  # Ctrl-C while building (a guest run reports it itself)
        commands.say("kasm: interrupted")
        raise typer.Exit(commands.INTERRUPTED) from None


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("kasm")
        except PackageNotFoundError:  # run from a checkout that was never installed
            number = "(not installed)"
        typer.echo(f"kasm {number}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", help="Print kasm's version and exit.",
                                          callback=_version, is_eager=True)] = False,
) -> None:
    """Assemble a tiny x86 program (GNU as syntax) and boot it in a KVM virtual machine."""


@app.command(cls=_Command, short_help="Assemble and link FILE into FILE.bin and FILE.elf.")
def build(
    file: FileArg,
    output: Annotated[str | None, typer.Option(
        "-o", "--output", metavar="FILE", show_default=False, help=(
            "Flat image path (default: FILE.bin beside the source; a directory: the same name "
            "in it); the ELF goes beside it as .elf. Needed when FILE is - (stdin)."))] = None,
    base: BaseOpt = None,
    map_: Annotated[bool, typer.Option("--map", help="Print each section's range and each "
                                       "symbol's address.")] = False,
    lines: Annotated[bool, typer.Option("--lines", help="Print the line table: each source "
                                        "line's addresses (after the map with --map).")] = False,
    include: IncludeOpt = [],  # noqa: B006 - typer reads the default
    define: DefineOpt = [],  # noqa: B006
) -> None:
    """Assemble and link FILE into a flat image (FILE.bin) and an ELF with symbols and DWARF
    line information (FILE.elf)."""
    _carry_out(commands.build, file, output, base, map_, include, define, lines)


@app.command(cls=_Command, short_help="Build FILE (or take a .bin/.elf image) and boot it.")
def run(
    file: Annotated[str, typer.Argument(metavar="FILE", show_default=False, help=(
        "Assembly source (- reads stdin), or a .bin/.elf image."))],
    base: BaseOpt = None,
    mem: Annotated[str, typer.Option("--mem", metavar="SIZE", help="Guest RAM size (e.g. 2M, "
                                     "64M, 4G).")] = DEFAULT_MEM,
    cpus: Annotated[int, typer.Option("--cpus", metavar="N", help="Number of vCPUs; each "
                    "starts at the entry, with a stack of its own (see README).")] = 1,
    mode: Annotated[ModeChoice | None, typer.Option(
        "--mode", metavar="MODE", show_default=False, help=(
            "CPU mode to boot in: real, protected, paged32 or long (default: from the "
            "source's first .code16/.code32/.code64)."))] = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", metavar="SECONDS", help=(
            f"Stop the guest after this many seconds (0: never; at most {MAX_TIMEOUT:g})."))] = (
        DEFAULT_TIMEOUT),
    stats: Annotated[bool, typer.Option("--stats", help="Print exit statistics to stderr "
                     "after the run.")] = False,
    stats_json: Annotated[str | None, typer.Option(
        "--stats-json", metavar="FILE", show_default=False,
        help="Write exit statistics as JSON to this file.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Make an access to a port no device "
                      "owns a guest fault.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Print the register dump "
                       "whenever the run ends abnormally.")] = False,
    include: IncludeOpt = [],  # noqa: B006
    define: DefineOpt = [],  # noqa: B006
    backend: Annotated[BackendChoice, typer.Option("--backend", metavar="BACKEND", help="What "
                       "runs the guest: "
                       "kvm, emu (the unicorn emulator), or auto (KVM where /dev/kvm works, "
                       "else emu).")] = "auto",  # type: ignore[assignment]
    trace: Annotated[str | None, typer.Option(
        "--trace", metavar="[=FILE]", show_default=False, help=(
            "Trace every executed instruction to stderr (--trace) or FILE (--trace=FILE): "
            "address, bytes, disassembly, source line, registers changed."))] = None,
    trace_exits: Annotated[bool, typer.Option("--trace-exits", help="Log every VM exit "
                           "(reason, port, size, value, hypercall) to the trace.")] = False,
    trace_count: Annotated[int | None, typer.Option(
        "--trace-count", metavar="N", show_default=False,
        help="Trace the first N instructions, then run on untraced.")] = None,
    trace_from: Annotated[str | None, typer.Option(
        "--trace-from", metavar="PLACE", show_default=False,
        help="Start tracing when the guest first reaches PLACE (a label or an address).")] = None,
    trace_range: Annotated[str | None, typer.Option(
        "--trace-range", metavar="RANGE", show_default=False, help=(
            "Trace only instructions inside RANGE: START-END, START+LENGTH (labels or "
            "addresses) or a label (up to the next one)."))] = None,
    gdb: Annotated[str | None, typer.Option(
        "--gdb", metavar="[=PORT]", show_default=False, help=(
            "Wait for gdb on 127.0.0.1:PORT (1234 when --gdb is given alone; 0: any free "
            "port) before the first instruction, and serve it; no --timeout."))] = None,
) -> None:
    """Build FILE and boot it in a KVM virtual machine; guest output goes to stdout.

    The exit code is the guest's HC_EXIT status (0 after HLT), or one of kasm's codes
    (see README)."""
    from .tracing import TraceRequest

    request = TraceRequest(trace, trace_exits, trace_count, trace_from, trace_range)
    code = _carry_out(commands.run, file, base, mem, mode.value if mode else None, timeout,
                      stats, stats_json, strict, verbose, include, define,
                      BackendChoice(backend).value, cpus, request, gdb)
    raise typer.Exit(code)


@app.command(cls=_Command, short_help="Disassemble an .elf or .bin image (no binutils needed).")
def disasm(
    file: Annotated[str, typer.Argument(metavar="FILE", show_default=False, help=(
        "An .elf (its code sections, labels and source lines) or a .bin (flat, at --base)."))],
    mode: Annotated[ModeChoice | None, typer.Option(
        "--mode", metavar="MODE", show_default=False, help=(
            "Decode as real, protected, paged32 or long mode code (default: the ELF's; "
            "real for a .bin)."))] = None,
    base: Annotated[str | None, typer.Option(
        "--base", metavar="ADDR", show_default=False,
        help=f"Where a .bin is loaded.  [default: {commands.DEFAULT_BASE}]")] = None,
) -> None:
    """Disassemble FILE: addresses, bytes, instructions (AT&T syntax), labels and source
    lines (from the ELF's symbols and DWARF line table)."""
    from . import disassemble

    text = _carry_out(disassemble.disasm, file, mode.value if mode else None, base)
    _carry_out(commands.print_output, text, "the listing")


def optional_values(args: list[str]) -> list[str]:
    """`--trace` alone means stderr: it never takes the next word as its FILE (that is
    `--trace=FILE`), so `kasm run --trace prog.S` traces prog.S."""
    out = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        out.append("--trace=-" if arg == "--trace" else arg)
    return out


def main() -> None:
    """typer's app, with one more way out: help or usage text that cannot be written (a full
    disk) is one line on stderr and exit code 1, not a traceback."""
    args = optional_values(sys.argv[1:])
    if "--gdb" in args:  # a bare --gdb: the default port (imported only then)
        from vmm.gdb.option import with_default_port

        args = with_default_port(args)
    try:
        app(args=args, prog_name="kasm")
    except OSError as e:
        if _command_started:
            raise
        commands.settle_stdout()
        commands.error(f"cannot write to stdout: {e.strerror or e}")
        sys.exit(commands.BUILD_ERROR)

"""`python -m vmm IMAGE`: boot a flat binary or an ELF without the assembler (library first).

The options mean what they mean to `kasm run`, and the run and its report are the same code
(vmm.launch): `--timeout 0` is no timeout, an ELF is told by its magic.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vmm import launch
from vmm.errors import CpuCountError, VmmError
from vmm.gdb import option
from vmm.memory import parse_size
from vmm.terminal import Reporter, settle_stdout
from vmm.vocabulary import (
    BACKENDS,
    DEFAULT_BACKEND,
    DEFAULT_BASE,
    DEFAULT_MEM_SIZE,
    DEFAULT_TIMEOUT,
    ELF_MAGIC,
    MAX_TIMEOUT,
    BootMode,
    ExitCode,
)

app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Run a guest image in a virtual machine (KVM or the unicorn emulator).")
REPORTER = Reporter("vmm")
_command_started = False  # from here on an OSError is the command's, not typer's help output


def _usage(message: str) -> typer.Exit:
    REPORTER.error(message)
    return typer.Exit(ExitCode.USAGE_ERROR)


def _int(text: str, option: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise _usage(f"{option} {text!r} is not an integer (e.g. 0x1000)") from None


@app.command()
def main(
    image: Annotated[Path, typer.Argument(metavar="IMAGE",
                                          help="flat binary, or ELF (detected by its magic)")],
    base: Annotated[str, typer.Option(help="load address of a flat binary")] = hex(DEFAULT_BASE),
    entry: Annotated[str | None, typer.Option(help="entry point (default: base / ELF)")] = None,
    mode: Annotated[
        str | None, typer.Option(help="real, protected, paged32, long (default: real / ELF)")
    ] = None,
    mem: Annotated[str, typer.Option(help="guest RAM, e.g. 2M, 64M, 4G")] = (
        f"{DEFAULT_MEM_SIZE >> 20}M"),
    cpus: Annotated[int, typer.Option(help="number of vCPUs", min=1)] = 1,
    timeout: Annotated[float, typer.Option(
        help=f"seconds before the guest is stopped (0: never; at most {MAX_TIMEOUT:g})",
        min=0, max=MAX_TIMEOUT)] = DEFAULT_TIMEOUT,
    strict: Annotated[bool, typer.Option(help="accesses to unowned ports are faults")] = False,
    stats: Annotated[bool, typer.Option(help="print exit statistics to stderr")] = False,
    stats_json: Annotated[Path | None, typer.Option(help="write exit statistics as JSON")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="print the register dump "
                                          "at every end, and the registers changed last")
                       ] = False,
    backend: Annotated[str, typer.Option(help="kvm, emu (unicorn) or auto (KVM where "
                                         "/dev/kvm works, else emu)")] = DEFAULT_BACKEND,
    gdb: Annotated[str | None, typer.Option(
        "--gdb", metavar="[=PORT]", help="wait for gdb on 127.0.0.1:PORT (1234 when given "
        "alone; 0: any free port) before the first instruction, and serve it; no timeout")
    ] = None,
) -> None:
    global _command_started
    _command_started = True
    try:
        boot_mode = BootMode(mode.lower()) if mode else None
    except ValueError:
        raise _usage(f"unknown mode {mode!r} (real, protected, paged32, long)") from None
    if backend not in BACKENDS:
        raise _usage(f"unknown backend {backend!r} ({', '.join(BACKENDS)})")
    try:
        mem_size = parse_size(mem)
    except VmmError as e:
        raise _usage(str(e)) from None
    try:
        gdb_port = None if gdb is None else option.parse_port(gdb, cpus)
    except ValueError as e:
        raise _usage(f"--gdb: {e}") from None
    try:
        data = image.read_bytes()
    except OSError as e:
        REPORTER.error(f"{image}: {e.strerror}")
        raise typer.Exit(ExitCode.BUILD_ERROR) from None
    elf = str(image) if data[:4] == ELF_MAGIC else None
    try:
        with option.stub(gdb_port, elf, image.stem, REPORTER) as monitor:
            code = launch.boot(
                data, REPORTER, name=str(image), base=_int(base, "--base"),
                entry=None if entry is None else _int(entry, "--entry"), mode=boot_mode,
                mem_size=mem_size, timeout=0 if monitor is not None else timeout,
                strict=strict, backend=backend, cpus=cpus, input=launch.default_input(),
                monitor=monitor, stats=stats,
                stats_json=None if stats_json is None else str(stats_json), verbose=verbose,
                registers=verbose)
    except CpuCountError as e:
        raise _usage(f"--cpus: {e}") from None
    except VmmError as e:
        REPORTER.error(str(e))
        raise typer.Exit(ExitCode.VMM_ERROR) from None
    except launch.Stopped as stop:
        raise typer.Exit(stop.exit_code) from None
    raise typer.Exit(code)


def cli() -> None:
    """The app, with one more way out: help or usage text that cannot be written (a full disk)
    is one line on stderr and exit code 1, not a traceback."""
    try:
        app(args=option.with_default_port(sys.argv[1:]), prog_name="python -m vmm")
    except OSError as e:
        if _command_started:
            raise
        settle_stdout()
        REPORTER.error(f"cannot write to stdout: {e.strerror or e}")
        sys.exit(ExitCode.BUILD_ERROR)


if __name__ == "__main__":
    cli()

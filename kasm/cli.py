"""The `kasm` command: `kasm build FILE.S` and `kasm run FILE.S`.

Heavy imports (keystone, lief, the VMM) happen inside the commands that need them, so
`kasm --help` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Assemble a tiny x86 program (GNU as syntax) and boot it in a KVM virtual machine.",
)

BUILD_ERROR = 1
VMM_ERROR = 3
MAX_TIMEOUT = 1e6  # seconds; longer than any run, short enough for every timer API


class ModeChoice(str, Enum):
    real = "real"
    protected = "protected"
    paged32 = "paged32"
    long = "long"


def _address(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not an address (use e.g. 0x1000)") from None
    if not 0 <= value < 1 << 64:
        raise typer.BadParameter(f"'{text}' is out of range")
    return value


def _defines(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        name, _, value = v.partition("=")
        out[name] = value or "1"
    return out


def _err(message: str) -> None:
    typer.echo(f"kasm: error: {message}", err=True)


IncludeOpt = Annotated[list[Path], typer.Option("-I", "--include", help="Add a directory to "
                                                "the include search path.", metavar="DIR")]
DefineOpt = Annotated[list[str], typer.Option("-D", "--define", help="Define a preprocessor "
                                              "macro (NAME or NAME=VALUE).", metavar="NAME[=V]")]
BaseOpt = Annotated[str, typer.Option("--base", help="Load address of .text.", metavar="ADDR")]


def _read_source(path: Path) -> None:
    if not path.exists():
        _err(f"{path}: no such file")
        raise typer.Exit(BUILD_ERROR)
    if path.is_dir():
        _err(f"{path}: is a directory")
        raise typer.Exit(BUILD_ERROR)
    try:
        path.open("rb").close()
    except OSError as e:
        _err(f"{path}: cannot read ({e.strerror})")
        raise typer.Exit(BUILD_ERROR) from None


def _build(path: Path, base: int, include: list[Path], define: list[str]):  # noqa: ANN202
    from . import cache

    _read_source(path)
    defines = _defines(define)
    ticket = cache.lookup(path, base, list(include), defines)
    if ticket is not None and ticket.hit is not None:  # no keystone/pcpp import on a hit
        for text in ticket.hit.warnings:
            typer.echo(text, err=True)
        return ticket.hit
    from .build import build_file
    from .diagnostics import SourceError

    try:
        result = build_file(path, base=base, include_dirs=list(include), defines=defines)
    except SourceError as e:
        for d in e.diagnostics:
            typer.echo(d.format(), err=True)
        raise typer.Exit(BUILD_ERROR) from None
    cache.store(ticket, result)
    for w in result.warnings:
        typer.echo(w.format(), err=True)
    return result


@app.command()
def build(
    file: Annotated[Path, typer.Argument(help="Assembly source (.S is C-preprocessed).",
                                                metavar="FILE")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Flat image path "
                      "(default FILE.bin); the ELF goes beside it as .elf.")] = None,
    base: BaseOpt = "0x1000",
    map_: Annotated[bool, typer.Option("--map", help="Print each section's range and each "
                                       "symbol's address.")] = False,
    include: IncludeOpt = [],  # noqa: B006 - typer reads the default
    define: DefineOpt = [],  # noqa: B006
) -> None:
    """Assemble and link FILE into a flat image (FILE.bin) and an ELF with symbols (FILE.elf)."""
    result = _build(file, _address(base), include, define)
    image = result.image
    bin_path = output or file.with_suffix(".bin")
    elf_path = bin_path.with_suffix(".elf")
    if bin_path == elf_path:  # `-o prog.elf`: the ELF there, the flat image beside it
        bin_path = bin_path.with_suffix(".bin")
    if file.resolve() in (bin_path.resolve(), elf_path.resolve()):
        raise typer.BadParameter(f"would overwrite the source {file}", param_hint="'-o'")
    from .elf import write_elf

    try:
        bin_path.write_bytes(image.flat())
        elf_path.write_bytes(write_elf(image))
    except OSError as e:
        _err(f"cannot write {e.filename}: {e.strerror}")
        raise typer.Exit(BUILD_ERROR) from None
    if map_:
        typer.echo(format_map(image))


def format_map(image) -> str:  # noqa: ANN001 - kasm.image.Image, imported lazily
    lines = ["Sections:"]
    for s in image.sections:
        kind = "nobits" if s.nobits else "bytes"
        lines.append(f"  {s.name:<8} 0x{s.address:08x}-0x{s.end:08x}  {s.size:6d} {kind}"
                     f"  align {s.align}")
    lines.append("Symbols:")
    for sym in sorted(image.symbols, key=lambda s: (s.value, s.name)):
        where = sym.section or "*ABS*"
        bind = "global" if sym.is_global else "local"
        lines.append(f"  0x{sym.value:08x}  {where:<8} {bind:<6} {sym.name}")
    lines.append(f"Entry: 0x{image.entry:x}  Mode: {image.mode.value}")
    return "\n".join(lines)


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Assembly source, or a .bin/.elf image.",
                                              metavar="FILE")],
    base: BaseOpt = "0x1000",
    mem: Annotated[str, typer.Option("--mem", help="Guest RAM size (e.g. 2M, 64M, 4G).")] = "2M",
    mode: Annotated[ModeChoice | None, typer.Option("--mode", help="CPU mode to boot in "
                    "(default: from the source's first .code16/.code32/.code64).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Stop the guest after this many "
                       "seconds (0: never).", min=0)] = 10.0,
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
    load_address = _address(base)
    if not math.isfinite(timeout) or timeout > MAX_TIMEOUT:
        raise typer.BadParameter(f"{timeout} is not a number of seconds up to {MAX_TIMEOUT:g} "
                                 "(0 means never)", param_hint="'--timeout'")
    import vmm

    try:
        mem_size = vmm.parse_size(mem)
    except vmm.VmmError as e:
        raise typer.BadParameter(str(e), param_hint="'--mem'") from None
    suffix = file.suffix.lower()
    boot = vmm.BootMode(mode.value) if mode is not None else None
    guest_input = sys.stdin.buffer if sys.stdin is not None else None
    try:
        if suffix == ".elf":
            _read_source(file)
            with _terminal_for_guest():
                result = vmm.run_elf(str(file), mode=boot, mem_size=mem_size,
                                     timeout=timeout or None, strict=strict, input=guest_input)
        else:
            if suffix == ".bin":
                _read_source(file)
                data, entry, image_mode = file.read_bytes(), load_address, vmm.BootMode.REAL
            else:
                image = _build(file, load_address, include, define).image
                if image.memory_end > mem_size:
                    _err(f"{file}: the program needs memory up to 0x{image.memory_end:x}, but the "
                         f"guest has {mem} (0x{mem_size:x} bytes); use a larger --mem")
                    raise typer.Exit(BUILD_ERROR)
                data, entry = image.flat(), image.entry
                load_address = min((s.address for s in image.loadable), default=load_address)
                image_mode = vmm.BootMode(image.mode.value)
            with _terminal_for_guest():
                result = vmm.run_flat(data, base=load_address, entry=entry,
                                      mode=boot or image_mode, mem_size=mem_size,
                                      timeout=timeout or None, strict=strict, input=guest_input)
    except vmm.VmmError as e:
        _err(str(e))
        raise typer.Exit(VMM_ERROR) from None
    if result.fault or result.end in ("timeout", "interrupted"):
        report = result.report() if (verbose or result.is_fault) else (result.fault or "")
        if report:
            typer.echo(f"kasm: {report}", err=True)
    if stats:
        typer.echo(result.stats.format_text(), err=True)
    if stats_json is not None:
        try:
            stats_json.write_text(json.dumps(result.stats.to_dict(), indent=2) + "\n")
        except OSError as e:
            _err(f"cannot write {stats_json}: {e.strerror}")
    raise typer.Exit(result.exit_code)


@contextlib.contextmanager
def _terminal_for_guest() -> Iterator[None]:
    """On a terminal, hand keys to the guest as typed (no line editing, no echo) while it
    runs; Ctrl-C still interrupts. The terminal is restored on every way out."""
    fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
    if fd is None:
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C outside a guest run
        typer.echo("kasm: interrupted", err=True)
        sys.exit(130)

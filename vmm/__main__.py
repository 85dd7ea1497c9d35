"""`python -m vmm IMAGE`: boot a flat binary or an ELF without the assembler (library first)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from vmm.errors import CpuCountError, VmmError
from vmm.machine import Machine
from vmm.memory import parse_size
from vmm.vocabulary import BACKENDS, DEFAULT_BASE, BootMode, ExitCode

app = typer.Typer(add_completion=False,
                  help="Run a guest image in a virtual machine (KVM or the unicorn emulator).")


def _int(text: str) -> int:
    return int(text, 0)


@app.command()
def main(
    image: Annotated[Path, typer.Argument(help="flat binary, or ELF (detected by its magic)")],
    base: Annotated[str, typer.Option(help="load address of a flat binary")] = hex(DEFAULT_BASE),
    entry: Annotated[str | None, typer.Option(help="entry point (default: base / ELF)")] = None,
    mode: Annotated[
        str | None, typer.Option(help="real, protected, paged32, long (default: real / ELF)")
    ] = None,
    mem: Annotated[str, typer.Option(help="guest RAM, e.g. 2M, 64M, 4G")] = "2M",
    cpus: Annotated[int, typer.Option(help="number of vCPUs", min=1)] = 1,
    timeout: Annotated[float, typer.Option(help="seconds before the guest is stopped (0: never)",
                                           min=0)] = 0,
    strict: Annotated[bool, typer.Option(help="accesses to unowned ports are faults")] = False,
    stats: Annotated[bool, typer.Option(help="print exit statistics to stderr")] = False,
    stats_json: Annotated[Path | None, typer.Option(help="write exit statistics as JSON")] = None,
    backend: Annotated[str, typer.Option(help="kvm, emu (unicorn) or auto (KVM where "
                                         "/dev/kvm works, else emu)")] = "auto",
) -> None:
    try:
        boot_mode = BootMode(mode.lower()) if mode else None
    except ValueError:
        typer.echo(f"vmm: unknown mode {mode!r} (real, protected, paged32, long)", err=True)
        raise typer.Exit(ExitCode.USAGE_ERROR) from None
    if backend not in BACKENDS:
        typer.echo(f"vmm: unknown backend {backend!r} ({', '.join(BACKENDS)})", err=True)
        raise typer.Exit(ExitCode.USAGE_ERROR)
    try:
        data = image.read_bytes()
    except OSError as e:
        typer.echo(f"vmm: {image}: {e.strerror}", err=True)
        raise typer.Exit(ExitCode.USAGE_ERROR) from None
    try:
        load_base, start = _int(base), _int(entry) if entry else None
    except ValueError:
        typer.echo("vmm: --base/--entry must be integers (e.g. 0x1000)", err=True)
        raise typer.Exit(ExitCode.USAGE_ERROR) from None
    try:
        with Machine(parse_size(mem), backend=backend, input=sys.stdin.buffer, cpus=cpus,
                     warn=lambda text: typer.echo(f"vmm: warning: {text}", err=True)) as m:
            image_entry, image_mode = m.load_image(data, load_base)
            result = m.run(
                image_entry if start is None else start,
                boot_mode or image_mode or BootMode.REAL,
                timeout=timeout,
                strict=strict,
            )
    except CpuCountError as e:
        typer.echo(f"vmm: --cpus {e}", err=True)
        raise typer.Exit(ExitCode.USAGE_ERROR) from None
    except VmmError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(ExitCode.VMM_ERROR) from None
    if result.fault:
        typer.echo(result.report(), err=True)
    if stats:
        typer.echo(result.stats.format_text(), err=True)
    if stats_json is not None:
        stats_json.write_text(json.dumps(result.stats.to_dict(), indent=2) + "\n")
    raise typer.Exit(result.exit_code)


if __name__ == "__main__":
    sys.exit(app())

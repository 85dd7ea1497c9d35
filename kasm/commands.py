"""What `kasm build` and `kasm run` do, apart from the command line that asks for it.

kasm.cli (typer) turns options into these calls; kasm.entry calls `run` directly for the plain
`kasm run FILE`, whose whole cached run costs less than importing typer (~40 ms). Errors are
reported on stderr here; the caller only turns `Failed` into the exit code and `UsageError`
into its usage message. Heavy imports (keystone, lief) happen inside the paths that need them,
and the run path avoids even pathlib and json (~12 ms of start-up): file names stay strings,
shown as the user typed them.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator

from vmm import vocabulary
from vmm.vocabulary import DEFAULT_TIMEOUT, MAX_TIMEOUT, BootMode, ExitCode

BUILD_ERROR = ExitCode.BUILD_ERROR
USAGE_ERROR = ExitCode.USAGE_ERROR
VMM_ERROR = ExitCode.VMM_ERROR
INTERRUPTED = ExitCode.INTERRUPTED
DEFAULT_BASE = f"{vocabulary.DEFAULT_BASE:#x}"  # option defaults are text, as typed
DEFAULT_MEM = f"{vocabulary.DEFAULT_MEM_SIZE >> 20}M"
MODES = tuple(m.value for m in BootMode)


class UsageError(Exception):
    """A bad option value; `param` names the option ('--mem') when there is one."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class Failed(Exception):
    """The command already said what went wrong on stderr: exit with `code`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def say(text: str) -> None:
    """One message on stderr (a closed stderr loses it rather than raising)."""
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            print(text, file=sys.stderr, flush=True)


def error(message: str) -> None:
    say(f"kasm: error: {message}")


def warning(message: str) -> None:
    say(f"kasm: warning: {message}")


def settle_stdout() -> None:
    """Flush stdout now. If that fails (its reader went away, the disk is full), the failure
    has been reported already: point the descriptor at /dev/null so that the interpreter's
    own flush at exit does not fail again (it would print "Exception ignored" and exit 120)."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def parse_address(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise UsageError(f"'{text}' is not an address (use e.g. 0x1000)") from None
    if not 0 <= value < 1 << 64:
        raise UsageError(f"'{text}' is out of range")
    return value


def parse_defines(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        name, _, value = v.partition("=")
        out[name] = value or "1"
    return out


def check_readable(path: str) -> None:
    if not os.path.exists(path):
        error(f"{path}: no such file")
        raise Failed(BUILD_ERROR)
    if os.path.isdir(path):
        error(f"{path}: is a directory")
        raise Failed(BUILD_ERROR)
    try:
        open(path, "rb").close()  # noqa: SIM115 - only asking whether it opens
    except OSError as e:
        error(f"{path}: cannot read ({e.strerror})")
        raise Failed(BUILD_ERROR) from None


def build_image(path: str, base: int, include: list[str], define: list[str]):  # noqa: ANN201
    """A BuildResult, or the cache's CachedBuild of an unchanged source (then keystone and
    pcpp are never imported). Diagnostics go to stderr; errors raise Failed."""
    from . import cache

    check_readable(path)
    defines = parse_defines(define)
    ticket = cache.lookup(path, base, list(include), defines)
    if ticket is not None and ticket.hit is not None:
        for text in ticket.hit.warnings:
            say(text)
        return ticket.hit
    from .build import build_file
    from .diagnostics import SourceError

    try:
        result = build_file(path, base=base, include_dirs=list(include), defines=defines)
    except SourceError as e:
        for d in e.diagnostics:
            say(d.format())
        raise Failed(BUILD_ERROR) from None
    cache.store(ticket, result)
    for w in result.warnings:
        say(w.format())
    return result


def build(
    file: str,
    output: str | None = None,
    base: str = DEFAULT_BASE,
    show_map: bool = False,
    include: list[str] | None = None,
    define: list[str] | None = None,
) -> None:
    """`kasm build`: FILE.bin (or `output`) and the ELF beside it."""
    from pathlib import Path

    result = build_image(file, parse_address(base), include or [], define or [])
    image = result.image
    bin_path = Path(output) if output else Path(file).with_suffix(".bin")
    elf_path = bin_path.with_suffix(".elf")
    if bin_path == elf_path:  # `-o prog.elf`: the ELF there, the flat image beside it
        bin_path = bin_path.with_suffix(".bin")
    if Path(file).resolve() in (bin_path.resolve(), elf_path.resolve()):
        raise UsageError(f"would overwrite the source {file}", "'-o'")
    from .elf import write_elf

    try:
        bin_path.write_bytes(image.flat())
        elf_path.write_bytes(write_elf(image))
    except OSError as e:
        error(f"cannot write {e.filename}: {e.strerror}")
        raise Failed(BUILD_ERROR) from None
    if show_map:
        try:
            if sys.stdout is not None:  # `>&-`: nothing to print to, and no error
                print(format_map(image))
                sys.stdout.flush()
        except (OSError, ValueError) as e:
            if not isinstance(e, BrokenPipeError | ValueError):  # a closed reader: as head(1)
                error(f"cannot write the map: {getattr(e, 'strerror', e)}")
                raise Failed(BUILD_ERROR) from None
        finally:
            settle_stdout()


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


def run(
    file: str,
    base: str = DEFAULT_BASE,
    mem: str = DEFAULT_MEM,
    mode: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stats: bool = False,
    stats_json: str | None = None,
    strict: bool = False,
    verbose: bool = False,
    include: list[str] | None = None,
    define: list[str] | None = None,
    cpus: int = 1,
) -> int:
    """`kasm run`: build FILE (or take a .bin/.elf as it is), boot it on `cpus` vCPUs, and
    return the exit code: the guest's HC_EXIT status, or one of the VMM's codes (README)."""
    load_address = parse_address(base)
    if cpus < 1:
        raise UsageError(f"{cpus}: a guest needs at least one vCPU", "'--cpus'")
    if not math.isfinite(timeout) or not 0 <= timeout <= MAX_TIMEOUT:
        raise UsageError(f"{timeout} is not a number of seconds up to {MAX_TIMEOUT:g} "
                         "(0 means never)", "'--timeout'")
    import vmm

    try:
        mem_size = vmm.parse_size(mem)
    except vmm.VmmError as e:
        raise UsageError(str(e), "'--mem'") from None
    suffix = os.path.splitext(file)[1].lower()
    boot = BootMode(mode) if mode is not None else None
    guest_input = sys.stdin.buffer if sys.stdin is not None else None
    try:
        if suffix == ".elf":
            check_readable(file)
            with terminal_for_guest():
                result = vmm.run_elf(file, mode=boot, mem_size=mem_size,
                                     timeout=timeout or None, strict=strict, input=guest_input,
                                     cpus=cpus, warn=warning)
        else:
            if suffix == ".bin":
                check_readable(file)
                with open(file, "rb") as f:
                    data = f.read()
                entry, image_mode = load_address, BootMode.REAL
            else:
                image = build_image(file, load_address, include or [], define or []).image
                if image.memory_end > mem_size:
                    error(f"{file}: the program needs memory up to 0x{image.memory_end:x}, but "
                          f"the guest has {mem} (0x{mem_size:x} bytes); use a larger --mem")
                    raise Failed(BUILD_ERROR)
                data, entry = image.flat(), image.entry
                load_address = min((s.address for s in image.loadable), default=load_address)
                image_mode = image.mode
            with terminal_for_guest():
                result = vmm.run_flat(data, base=load_address, entry=entry,
                                      mode=boot or image_mode, mem_size=mem_size,
                                      timeout=timeout or None, strict=strict, input=guest_input,
                                      cpus=cpus, warn=warning)
    except vmm.CpuCountError as e:
        raise UsageError(str(e), "'--cpus'") from None
    except vmm.VmmError as e:
        error(str(e))
        raise Failed(VMM_ERROR) from None
    finally:
        settle_stdout()
    if result.fault:
        report = result.report() if (verbose or result.is_fault) else (result.fault or "")
        if report:
            say(f"kasm: {report}")
    if stats:
        say(result.stats.format_text())
    if stats_json is not None:
        import json

        try:
            with open(stats_json, "w") as f:
                f.write(json.dumps(result.stats.to_dict(), indent=2) + "\n")
        except OSError as e:
            error(f"cannot write {stats_json}: {e.strerror}")
    return result.exit_code


@contextlib.contextmanager
def terminal_for_guest() -> Iterator[None]:
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

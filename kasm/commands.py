"""What `kasm build` and `kasm run` do, apart from the command line that asks for it.

kasm.cli (typer) turns options into these calls; kasm.entry calls `run` and `build` directly
for the plain `kasm run FILE` and `kasm build FILE`, which cost less than importing typer
(~40 ms). Errors are
reported on stderr here; the caller only turns `Failed` into the exit code and `UsageError`
into its usage message. Heavy imports (keystone, pcpp) happen inside the paths that need them,
and the run path avoids even pathlib and json (~12 ms of start-up): file names stay strings,
shown as the user typed them. The input is read once (kasm.inputs): it may be a pipe.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys

from vmm import vocabulary
from vmm.vocabulary import DEFAULT_BACKEND, DEFAULT_TIMEOUT, MAX_TIMEOUT, BootMode, ExitCode

BUILD_ERROR = ExitCode.BUILD_ERROR
USAGE_ERROR = ExitCode.USAGE_ERROR
VMM_ERROR = ExitCode.VMM_ERROR
INTERRUPTED = ExitCode.INTERRUPTED
DEFAULT_BASE = f"{vocabulary.DEFAULT_BASE:#x}"  # option defaults are text, as typed
DEFAULT_MEM = f"{vocabulary.DEFAULT_MEM_SIZE >> 20}M"
MODES = tuple(m.value for m in BootMode)
BACKENDS = vocabulary.BACKENDS


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


def warn(message: str) -> None:
    say(f"kasm: warning: {message}")


def parse_address(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise UsageError(f"'{text}' is not an address (use e.g. 0x1000)") from None
    if not 0 <= value < 1 << 64:
        raise UsageError(f"'{text}' is out of range")
    return value


def parse_defines(values: list[str]) -> dict[str, str]:
    """-D NAME or NAME=VALUE, as cpp takes them; a bad NAME is the option's error, not one on
    some source line pcpp would report it at."""
    out = {}
    for v in values:
        name, _, value = v.partition("=")
        if not name:
            raise UsageError(f"'{v}' has no macro name (use NAME or NAME=VALUE)", "'-D'")
        if not (name.isidentifier() and name.isascii()):
            raise UsageError(f"'{name}' is not a macro name (a letter or _, then letters, "
                             "digits or _)", "'-D'")
        out[name] = value or "1"
    return out


def parse_mem(text: str) -> int:
    import vmm

    try:
        return vmm.parse_size(text)
    except vmm.VmmError as e:
        raise UsageError(str(e), "'--mem'") from None


def read_input(path: str, *, source: bool) -> bytes:
    """The input's bytes, read once (kasm.inputs); Failed (after saying why) when it cannot be
    read or, for a `source`, is not text."""
    from . import inputs

    try:
        data = inputs.read_input(path)
        if source:
            inputs.refuse_binary(inputs.display_name(path), data)
    except inputs.InputError as e:
        error(e.message)
        raise Failed(BUILD_ERROR) from None
    return data


def build_image(path: str, base: int, include: list[str], define: list[str],
                mem: str | None = None):  # noqa: ANN201
    """A BuildResult, or the cache's CachedBuild of an unchanged source (then keystone and
    pcpp are never imported). Diagnostics go to stderr; errors raise Failed. With `mem` (as
    typed), a program that does not fit is refused before the build is cached."""
    from . import cache, inputs

    defines = parse_defines(define)
    source = read_input(path, source=True)
    name = inputs.display_name(path)
    ticket = None
    if inputs.is_regular_file(path):  # a pipe's content cannot be checked again later
        ticket = cache.lookup(path, base, list(include), defines, source=source)
    if ticket is not None and ticket.hit is not None:
        for text in ticket.hit.warnings:
            say(text)
        check_fits(name, ticket.hit.image, mem)
        return ticket.hit
    from .build import build_bytes
    from .diagnostics import SourceError

    try:
        result = build_bytes(source, name, base=base, include_dirs=list(include),
                             defines=defines)
    except SourceError as e:
        for d in e.diagnostics:
            say(d.format())
        raise Failed(BUILD_ERROR) from None
    for w in result.warnings:
        say(w.format())
    check_fits(name, result.image, mem)
    cache.store(ticket, result)
    return result


def check_fits(name: str, image, mem: str | None) -> None:  # noqa: ANN001 - an Image
    if mem is None:
        return
    mem_size = parse_mem(mem)
    if image.memory_end > mem_size:
        error(f"{name}: the program needs memory up to 0x{image.memory_end:x}, but the guest "
              f"has {mem} (0x{mem_size:x} bytes); use a larger --mem")
        raise Failed(BUILD_ERROR)


def warn_unused_options(file: str, kind: str, base: str | None, include: list[str],
                        define: list[str]) -> None:
    """Options that cannot do anything for this input: say so rather than ignore them."""
    if kind == "elf" and base is not None:
        warn("--base has no effect on an ELF image: it is loaded at its own addresses")
    if kind in ("elf", "bin"):
        for option, given in (("-D", define), ("-I", include)):
            if given:
                warn(f"{option} has no effect on a .{kind} image: only sources are built")
    elif define and file.endswith(".s"):
        warn("-D has no effect on a .s file: only .S files are preprocessed")


def warn_mode_mismatch(name: str, mode: str | None, image) -> None:  # noqa: ANN001 - an Image
    if mode is None or BootMode(mode).bits == image.mode.bits:
        return
    bits = image.mode.bits
    directive = ".code16 or no .code directive" if bits == 16 else f".code{bits}"
    warn(f"--mode {mode} runs {BootMode(mode).bits}-bit code, but {name} starts as {bits}-bit "
         f"code ({directive})")


def input_kind(file: str) -> str:
    """"elf", "bin" (images, by their suffix) or "source"."""
    suffix = os.path.splitext(file)[1].lower()
    return {".elf": "elf", ".bin": "bin"}.get(suffix, "source")


def output_paths(source: str, output: str | None) -> tuple[str, str]:
    """(flat image, ELF) for `kasm build SOURCE [-o OUTPUT]`.

    No -o: SOURCE's name with .bin, beside it. -o naming a directory (one that exists, or any
    name ending in '/'): that name inside it. Otherwise -o is the flat image's path, and the
    ELF goes beside it with .elf (or -o names the .elf and the flat image goes beside it)."""
    from . import inputs

    if output == "":
        raise UsageError("'' is not a file name", "'-o'")
    into_directory = output is not None and (output.endswith("/") or os.path.isdir(output))
    if output is None or into_directory:
        if inputs.is_stream(source):
            what = "stdin" if source == inputs.STDIN else f"{source}, not a regular file,"
            raise UsageError(f"{what} has no name to give the output: name it with -o FILE",
                             "'-o'")
        stem = os.path.splitext(os.path.basename(source))[0]
        where = output if output is not None else os.path.dirname(source)
        image = os.path.join(where, stem + ".bin")
    else:
        image = output
    root, suffix = os.path.splitext(image)
    elf = root + ".elf"
    if suffix == ".elf":  # `-o prog.elf`: the ELF there, the flat image beside it
        image = root + ".bin"
    return image, elf


def check_not_source(source: str, paths: tuple[str, ...]) -> None:
    """Checked once the source has been read (a flat image given as source is refused for
    what it is first, not for the name its output would have)."""
    from . import inputs

    if source != inputs.STDIN and os.path.realpath(source) in map(os.path.realpath, paths):
        raise UsageError(f"would overwrite the source {source}", "'-o'")


def write_file(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        error(f"cannot write {path}: {e.strerror}")
        raise Failed(BUILD_ERROR) from None


def build(
    file: str,
    output: str | None = None,
    base: str | None = None,
    show_map: bool = False,
    include: list[str] | None = None,
    define: list[str] | None = None,
) -> None:
    """`kasm build`: FILE.bin (or `output`) and the ELF beside it."""
    bin_path, elf_path = output_paths(file, output)
    include, define = include or [], define or []
    warn_unused_options(file, "source", base, include, define)
    image = build_image(file, parse_address(base or DEFAULT_BASE), include, define).image
    check_not_source(file, (bin_path, elf_path))
    from .elf import write_elf

    write_file(bin_path, image.flat())
    write_file(elf_path, write_elf(image))
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
    from .elf import listed_symbols

    lines = ["Sections:"]
    for s in image.sections:
        kind = "nobits" if s.nobits else "bytes"
        lines.append(f"  {s.name:<8} 0x{s.address:08x}-0x{s.end:08x}  {s.size:6d} {kind}"
                     f"  align {s.align}")
    lines.append("Symbols:")
    for sym in sorted(listed_symbols(image), key=lambda s: (s.value, s.name)):
        where = sym.section or "*ABS*"
        bind = "global" if sym.is_global else "local"
        value = sym.value & ((1 << 64) - 1 if image.mode.bits == 64 else 0xFFFFFFFF)
        lines.append(f"  0x{value:08x}  {where:<8} {bind:<6} {sym.name}")
    lines.append(f"Entry: 0x{image.entry:x}  Mode: {image.mode.value}")
    return "\n".join(lines)


def run(
    file: str,
    base: str | None = None,
    mem: str = DEFAULT_MEM,
    mode: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stats: bool = False,
    stats_json: str | None = None,
    strict: bool = False,
    verbose: bool = False,
    include: list[str] | None = None,
    define: list[str] | None = None,
    backend: str = DEFAULT_BACKEND,
    cpus: int = 1,
) -> int:
    """`kasm run`: build FILE (or take a .bin/.elf as it is), boot it on `cpus` vCPUs, and
    return the exit code: the guest's HC_EXIT status, or one of the VMM's codes (README)."""
    from . import inputs
    from .guestio import GuestOutput, Signalled, terminal_for_guest

    load_address = parse_address(base or DEFAULT_BASE)
    if cpus < 1:
        raise UsageError(f"{cpus}: a guest needs at least one vCPU", "'--cpus'")
    if not math.isfinite(timeout) or not 0 <= timeout <= MAX_TIMEOUT:
        raise UsageError(f"{timeout:g} is not a number of seconds up to {MAX_TIMEOUT:g} "
                         "(0 means never)", "'--timeout'")
    mem_size = parse_mem(mem)
    include, define = include or [], define or []
    kind = input_kind(file)
    warn_unused_options(file, kind, base, include, define)
    import vmm

    boot = BootMode(mode) if mode is not None else None
    # The source read from stdin leaves the guest nothing to read: its input is at its end.
    guest_input = None if sys.stdin is None or inputs.is_stdin(file) else sys.stdin.buffer
    output = GuestOutput.for_stdout()
    settings = {"mem_size": mem_size, "timeout": timeout or None, "strict": strict,
                "backend": backend, "cpus": cpus, "warn": warn, "input": guest_input,
                "output": output}
    try:
        if kind == "elf":
            image_file = file if inputs.is_regular_file(file) else read_input(file, source=False)
            with terminal_for_guest():
                result = vmm.run_elf(image_file, mode=boot, **settings)
        else:
            if kind == "bin":
                data = read_input(file, source=False)
                entry, image_mode = load_address, BootMode.REAL
            else:
                name = inputs.display_name(file)
                image = build_image(file, load_address, include, define, mem).image
                warn_mode_mismatch(name, mode, image)
                data, entry = image.flat(), image.entry
                load_address = min((s.address for s in image.loadable), default=load_address)
                image_mode = image.mode
            with terminal_for_guest():
                result = vmm.run_flat(data, base=load_address, entry=entry,
                                      mode=boot or image_mode, **settings)
    except vmm.CpuCountError as e:
        raise UsageError(str(e), "'--cpus'") from None
    except vmm.VmmError as e:
        error(str(e))
        raise Failed(VMM_ERROR) from None
    except Signalled as stop:
        settle_stdout()
        if output.ends_mid_line():
            say("")
        say(f"kasm: stopped by {stop.name}")
        raise Failed(stop.exit_code) from None
    finally:
        settle_stdout()
    report_run(result, output, stats, stats_json, verbose)
    return result.exit_code


def report_run(result, output, stats: bool, stats_json: str | None,  # noqa: ANN001
               verbose: bool) -> None:
    """kasm's messages after a run (vmm.RunResult, guestio.GuestOutput), on lines of their own."""
    lines = []
    if result.fault:
        report = result.report() if (verbose or result.is_fault) else (result.fault or "")
        if report:
            lines.append(f"kasm: {report}")
    if output.discarded:
        lines.append(f"kasm: warning: stdout is closed: {output.bytes_written} bytes of guest "
                     "output were discarded")
    if stats:
        lines.append(result.stats.format_text())
    if lines and output.ends_mid_line():
        say("")
    for line in lines:
        say(line)
    if stats_json is not None:
        import json

        try:
            with open(stats_json, "w") as f:
                f.write(json.dumps(result.stats.to_dict(), indent=2) + "\n")
        except OSError as e:
            error(f"cannot write {stats_json}: {e.strerror}")

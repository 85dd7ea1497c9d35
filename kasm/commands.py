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
from vmm.terminal import settle_stdout
from vmm.vocabulary import (
    DEFAULT_BACKEND,
    DEFAULT_TIMEOUT,
    ELF_MAGIC,
    MAX_TIMEOUT,
    BootMode,
)

from .failures import (  # noqa: F401 - re-exported: kasm.cli and kasm.entry use them from here
    BUILD_ERROR,
    INTERRUPTED,
    REPORTER,
    USAGE_ERROR,
    VMM_ERROR,
    Failed,
    UsageError,
    error,
    parse_address,
    read_input,
    say,
    warn,
)

DEFAULT_BASE = f"{vocabulary.DEFAULT_BASE:#x}"  # option defaults are text, as typed
DEFAULT_MEM = f"{vocabulary.DEFAULT_MEM_SIZE >> 20}M"
MODES = tuple(m.value for m in BootMode)
BACKENDS = vocabulary.BACKENDS


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
    """"elf" (by its suffix, or a file's magic, as vmm tells an ELF), "bin" (a flat image,
    by its suffix) or "source"."""
    suffix = os.path.splitext(file)[1].lower()
    kind = {".elf": "elf", ".bin": "bin"}.get(suffix, "source")
    if kind == "source" and os.path.isfile(file):
        try:
            with open(file, "rb") as f:
                if f.read(4) == ELF_MAGIC:
                    return "elf"
        except OSError:
            pass  # reading it as a source says why
    return kind


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


def write_file(path: str, data) -> None:  # noqa: ANN001 - a kasm.contents.Contents
    try:
        with open(path, "wb") as f:
            data.write_to(f)
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
    show_lines: bool = False,
) -> None:
    """`kasm build`: FILE.bin (or `output`) and the ELF beside it; `show_map` and
    `show_lines` print the map and the line table."""
    bin_path, elf_path = output_paths(file, output)
    include, define = include or [], define or []
    warn_unused_options(file, "source", base, include, define)
    image = build_image(file, parse_address(base or DEFAULT_BASE), include, define).image
    check_not_source(file, (bin_path, elf_path))
    from .dwarf import debug_sections
    from .elf import elf_contents

    write_file(bin_path, image.flat_contents())
    write_file(elf_path, elf_contents(image, debug_sections(image)))
    if show_map or show_lines:
        from .listing import format_lines, format_map

        parts = ([format_map(image)] if show_map else []) + (
            [format_lines(image)] if show_lines else [])
        print_output("\n".join(parts), "the map")


def print_output(text: str, what: str) -> None:
    """`text` on stdout; a closed reader ends it quietly (as head(1) wants), a full disk is
    an error naming `what` was being written."""
    try:
        if sys.stdout is not None:  # `>&-`: nothing to print to, and no error
            print(text)
            sys.stdout.flush()
    except (OSError, ValueError) as e:
        if not isinstance(e, BrokenPipeError | ValueError):
            error(f"cannot write {what}: {getattr(e, 'strerror', e)}")
            raise Failed(BUILD_ERROR) from None
    finally:
        settle_stdout()


def parse_gdb_port(text: str | None, cpus: int) -> int | None:
    if text is None:
        return None
    from vmm.gdb.option import parse_port

    try:
        return parse_port(text, cpus)
    except ValueError as e:
        raise UsageError(str(e), "'--gdb'") from None


def gdb_stub(port: int | None, elf: bytes | str | None, program: str):  # noqa: ANN201
    """The GDB stub of a run (vmm.gdb.option.stub), or no stub and no import of it."""
    if port is None:
        return contextlib.nullcontext()
    from vmm.gdb.option import stub

    return stub(port, elf, program, REPORTER)


def elf_bytes(image) -> bytes:  # noqa: ANN001 - kasm.image.Image, imported lazily
    """The ELF `kasm build` writes, line information included (`kasm run --gdb` gives it to
    gdb)."""
    from .dwarf import debug_sections
    from .elf import write_elf

    return write_elf(image, debug_sections(image))


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
    trace=None,  # noqa: ANN001 - a kasm.tracing.TraceRequest (imported only when given)
    gdb: str | None = None,
) -> int:
    """`kasm run`: build FILE (or take a .bin/.elf as it is), boot it on `cpus` vCPUs, and
    return the exit code: the guest's HC_EXIT status, or one of the VMM's codes (README).
    `trace` asks for a trace (--trace, --trace-exits and the limits); `gdb` (a port, as
    typed) makes the run wait for gdb and serve it, with no timeout."""
    from . import inputs

    load_address = parse_address(base or DEFAULT_BASE)
    if cpus < 1:
        raise UsageError(f"{cpus}: a guest needs at least one vCPU", "'--cpus'")
    watching = trace is not None and trace.wanted
    if trace is not None:
        trace.check()
        if watching and cpus > 1:
            raise UsageError("a trace follows one vCPU: drop --cpus", "'--trace'")
    if not math.isfinite(timeout) or not 0 <= timeout <= MAX_TIMEOUT:
        raise UsageError(f"{timeout:g} is not a number of seconds up to {MAX_TIMEOUT:g} "
                         "(0 means never)", "'--timeout'")
    mem_size = parse_mem(mem)
    gdb_port = parse_gdb_port(gdb, cpus)
    if gdb_port is not None and watching:
        raise UsageError("a run is traced or debugged with gdb, not both", "'--gdb'")
    include, define = include or [], define or []
    kind = input_kind(file)
    warn_unused_options(file, kind, base, include, define)
    import vmm
    from vmm import launch

    # The source read from stdin leaves the guest nothing to read: its input is at its end.
    guest_input = None if inputs.is_stdin(file) else launch.default_input()
    from .tracing import read_elf_image, run_watch

    name = inputs.display_name(file)
    image, image_mode = None, None
    elf: bytes | str | None = None  # what gdb reads symbols from
    if kind == "source":
        image = build_image(file, load_address, include, define, mem).image
        warn_mode_mismatch(name, mode, image)
        data, entry, image_mode = image.flat(), image.entry, image.mode
        load_address = min((s.address for s in image.loadable), default=load_address)
        if gdb_port is not None:
            elf = elf_bytes(image)
    else:
        data, entry = read_input(file, source=False), None
        if data[:4] == ELF_MAGIC:
            image = read_elf_image(data, name)
            elf = file if inputs.is_regular_file(file) else data
    watch = run_watch(trace, verbose and cpus == 1, image, name)
    program = os.path.splitext(os.path.basename(name))[0]
    try:
        with gdb_stub(gdb_port, elf, program) as stub:
            return launch.boot(
                data, REPORTER, name=name, base=load_address, entry=entry,
                mode=BootMode(mode) if mode is not None else None, image_mode=image_mode,
                mem_size=mem_size, timeout=0 if stub is not None else timeout,  # gdb holds it
                strict=strict, backend=backend, cpus=cpus, input=guest_input, stats=stats,
                stats_json=stats_json, verbose=verbose, registers=verbose,
                finish=watch.finish, **(watch.settings() | ({} if stub is None else
                                                             {"monitor": stub})))
    except vmm.CpuCountError as e:
        raise UsageError(str(e), "'--cpus'") from None
    except vmm.VmmError as e:
        error(str(e))
        raise Failed(VMM_ERROR) from None
    except launch.Stopped as stop:
        raise Failed(stop.exit_code) from None

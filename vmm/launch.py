"""Booting an image from a command line and reporting how it went: the one implementation
behind `kasm run` and `python -m vmm`.

An image is an ELF (told by its magic) or a flat binary. The guest gets the terminal (see
vmm.terminal) while it runs; afterwards the fault or stop report, the statistics and their
JSON go to stderr and the file asked for, each on a line of its own. The caller turns a
VmmError (nothing could run) into its own message and exit code.
"""

from __future__ import annotations

import sys

from vmm.machine import Machine
from vmm.outcome import RunResult
from vmm.terminal import GuestOutput, Reporter, Signalled, settle_stdout, terminal_for_guest
from vmm.vocabulary import DEFAULT_BACKEND, DEFAULT_BASE, DEFAULT_MEM_SIZE, BootMode, ExitCode

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

    from vmm.monitor import Monitor
    from vmm.symbolizer import Symbolizer


class Stopped(Exception):
    """A stopping signal ended the run (the guest is stopped, the terminal restored)."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(exit_code)
        self.exit_code = exit_code


def boot(
    data: bytes,
    reporter: Reporter,
    *,
    name: str = "image",
    base: int = DEFAULT_BASE,
    entry: int | None = None,
    mode: BootMode | None = None,
    image_mode: BootMode | None = None,
    mem_size: int = DEFAULT_MEM_SIZE,
    timeout: float | None = None,
    strict: bool = False,
    backend: str = DEFAULT_BACKEND,
    cpus: int = 1,
    input: BinaryIO | None = None,
    monitor: Monitor | None = None,
    symbolizer: Symbolizer | None = None,
    registers: bool = False,
    finish: Callable[[], str] | None = None,
    stats: bool = False,
    stats_json: str | None = None,
    verbose: bool = False,
) -> int:
    """Run `data` (ELF, else flat at `base`) and report; returns the process exit code.

    The boot mode is `mode`, else the ELF's, else `image_mode` (what the caller knows of a
    flat image), else real mode; the entry is `entry`, else the ELF's, else `base`. `monitor`,
    `symbolizer` and `registers` are Machine.run's; `finish`, called after the run, closes
    what watched it and gives a line for the report ("" for none). Raises VmmError when nothing
    could run, Stopped after a stopping signal."""
    output = GuestOutput.for_stdout()
    try:
        # the terminal first: the console input reads keys the way the terminal is set then
        with terminal_for_guest(), Machine(
                mem_size, backend=backend, cpus=cpus, output=output,  # type: ignore[arg-type]
                input=input, warn=reporter.warn) as machine:
            image_entry, elf_mode = machine.load_image(data, base, name)
            result = machine.run(image_entry if entry is None else entry,
                                 mode or elf_mode or image_mode or BootMode.REAL,
                                 timeout=timeout or None, strict=strict, monitor=monitor,
                                 symbolizer=symbolizer, registers=registers)
    except Signalled as stop:
        settle_stdout()
        if output.ends_mid_line():
            reporter.say("")
        reporter.say(f"{reporter.prog}: stopped by {stop.name}")
        raise Stopped(stop.exit_code) from None
    finally:
        settle_stdout()
    note = finish() if finish is not None else ""
    written = report(result, output, reporter, stats=stats, stats_json=stats_json,
                     verbose=verbose, note=note)
    return result.exit_code or (0 if written else ExitCode.VMM_ERROR)


def report(result: RunResult, output: GuestOutput, reporter: Reporter, *, stats: bool,
           stats_json: str | None, verbose: bool, note: str = "") -> bool:
    """The messages after a run, on lines of their own (the guest's output may end mid-line):
    with `verbose`, the registers at every end, and `note` (what changed last). False when the
    statistics file asked for could not be written."""
    lines = []
    if result.fault:
        text = result.report() if (verbose or result.is_fault) else result.fault
        lines.append(f"{reporter.prog}: {text}")
    elif verbose and result.register_dump:
        lines.append(f"{reporter.prog}: the guest ended: {result.end}\n{result.register_dump}")
    if verbose and note:
        lines.append(note)
    if output.discarded:
        lines.append(f"{reporter.prog}: warning: stdout is closed: {output.bytes_written} bytes "
                     "of guest output were discarded")
    if stats:
        lines.append(result.stats.format_text())
    if lines and output.ends_mid_line():
        reporter.say("")
    for line in lines:
        reporter.say(line)
    if stats_json is not None:
        import json

        try:
            with open(stats_json, "w") as f:
                f.write(json.dumps(result.stats.to_dict(), indent=2) + "\n")
        except OSError as e:
            reporter.error(f"cannot write {stats_json}: {e.strerror}")
            return False
    return True


def default_input() -> BinaryIO | None:
    """The guest's input: this process's stdin (None when there is none)."""
    return sys.stdin.buffer if sys.stdin is not None else None

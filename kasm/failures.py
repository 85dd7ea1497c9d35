"""How a kasm command fails: the two exceptions the CLI turns into exit codes, and the one
reporter that says why on stderr first.

Every command module (build and run, disasm, tracing) raises these; only kasm.cli and
kasm.entry catch them, so no command module needs to import its caller.
"""

from __future__ import annotations

from vmm.terminal import Reporter
from vmm.vocabulary import ExitCode

BUILD_ERROR = ExitCode.BUILD_ERROR
USAGE_ERROR = ExitCode.USAGE_ERROR
VMM_ERROR = ExitCode.VMM_ERROR
INTERRUPTED = ExitCode.INTERRUPTED


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


REPORTER = Reporter("kasm")
say, error, warn = REPORTER.say, REPORTER.error, REPORTER.warn


def parse_address(text: str, option: str = "'--base'") -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise UsageError(f"'{text}' is not an address (use e.g. 0x1000)", option) from None
    if not 0 <= value < 1 << 64:
        raise UsageError(f"'{text}' is out of range", option)
    return value


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

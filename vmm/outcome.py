"""How a run ended, and the process exit code `kasm run` turns that into."""

from __future__ import annotations

import enum

from vmm.stats import ExitStats
from vmm.values import Record


class ExitCode(enum.IntEnum):
    """Process exit codes. A guest's HC_EXIT status N becomes N & 0xff (so 0..255 overlap
    these on purpose: the guest owns its status); everything else is fixed here."""

    OK = 0  # guest executed HLT (or HC_EXIT 0)
    BUILD_ERROR = 1  # kasm could not assemble/link the program
    USAGE_ERROR = 2  # bad command line
    VMM_ERROR = 3  # KVM unavailable, or the VM could not be set up / the image loaded
    GUEST_FAULT = 120  # triple fault, internal error, failed entry, MMIO outside RAM,
    # bad hypercall, unowned port under --strict, bad guest pointer
    TIMEOUT = 124  # the guest ran past --timeout (like timeout(1))
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    OUTPUT_CLOSED = 141  # stdout's reader went away (128 + SIGPIPE): the guest was stopped


# Run ends that are guest faults (exit code 120).
FAULT_ENDS = frozenset(
    {
        "shutdown",
        "internal_error",
        "fail_entry",
        "mmio",
        "bad_hypercall",
        "unowned_port",
        "bad_pointer",
        "unhandled_exit",
    }
)


def exit_code_for(end: str, status: int = 0) -> int:
    """The process exit code for a run that ended with `end` (and guest `status`)."""
    if end == "hc_exit":
        return status & 0xFF
    if end == "hlt":
        return ExitCode.OK
    if end == "timeout":
        return ExitCode.TIMEOUT
    if end == "interrupted":
        return ExitCode.INTERRUPTED
    if end == "output_closed":
        return ExitCode.OUTPUT_CLOSED
    return ExitCode.GUEST_FAULT


class RunResult(Record):
    """What happened: `end` as in ExitStats, the guest `status`, and for faults the report."""

    __slots__ = ("end", "status", "exit_code", "stats", "fault", "register_dump", "rip")

    def __init__(
        self, end: str, status: int, exit_code: int, stats: ExitStats, fault: str | None = None,
        register_dump: str | None = None, rip: int | None = None,
    ) -> None:  # fmt: skip
        self.end, self.status, self.exit_code, self.stats = end, status, exit_code, stats
        self.fault, self.register_dump, self.rip = fault, register_dump, rip

    @property
    def is_fault(self) -> bool:
        return self.end in FAULT_ENDS

    def report(self) -> str:
        """The message for stderr when the run did not end cleanly ("" when it did)."""
        if self.fault is None:
            return ""
        if self.register_dump:
            return f"{self.fault}\n{self.register_dump}"
        return self.fault

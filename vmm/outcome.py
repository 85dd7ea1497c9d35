"""How a run ended, as one value: the end, the guest's status, and what a report needs."""

from __future__ import annotations

from vmm.stats import ExitStats
from vmm.values import Record
from vmm.vocabulary import RunEnd


class RunResult(Record):
    """`end` decides `exit_code` (they cannot disagree); `fault` says what happened when the
    run did not end cleanly, `register_dump` the vCPU's state then, `rip` where it was."""

    __slots__ = ("end", "status", "stats", "fault", "register_dump", "rip")

    def __init__(
        self, end: RunEnd, status: int, stats: ExitStats, fault: str | None = None,
        register_dump: str | None = None, rip: int | None = None,
    ) -> None:  # fmt: skip
        self.end, self.status, self.stats = end, status, stats
        self.fault, self.register_dump, self.rip = fault, register_dump, rip

    @property
    def exit_code(self) -> int:
        return self.end.exit_code(self.status)

    @property
    def is_fault(self) -> bool:
        return self.end.is_fault

    def report(self) -> str:
        """The message for stderr when the run did not end cleanly ("" when it did)."""
        if self.fault is None:
            return ""
        if self.register_dump:
            return f"{self.fault}\n{self.register_dump}"
        return self.fault

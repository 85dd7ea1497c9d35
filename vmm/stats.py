"""Exit statistics of one run: what made the guest leave KVM_RUN, and what each exit cost."""

from __future__ import annotations

from vmm.values import Record
from vmm.vocabulary import RunEnd

STATS_KEYS = (
    "total_exits",
    "exits_by_reason",
    "exits_by_port",
    "guest_wall_s",
    "us_per_exit",
    "end",
    "backend",
    "interrupts_by_irq",
    "completed_by_vmm",
)


class ExitStats(Record):
    """Every return from KVM_RUN counts as one exit, the final HLT or HC_EXIT included."""

    __slots__ = ("total_exits", "exits_by_reason", "exits_by_port", "guest_wall_s", "end",
                 "backend", "interrupts_by_irq", "completed_by_vmm")

    def __init__(
        self, total_exits: int = 0, exits_by_reason: dict[str, int] | None = None,
        exits_by_port: dict[int, int] | None = None, guest_wall_s: float = 0.0,
        end: RunEnd | None = None, backend: str = "",
    ) -> None:  # fmt: skip
        self.total_exits = total_exits
        self.exits_by_reason = {} if exits_by_reason is None else exits_by_reason
        self.exits_by_port = {} if exits_by_port is None else exits_by_port
        self.guest_wall_s = guest_wall_s
        self.end = end
        self.backend = backend  # what ran the guest: "kvm", ...
        self.interrupts_by_irq: dict[int, int] = {}  # external interrupts delivered
        self.completed_by_vmm: dict[str, int] = {}  # instructions the backend gave up on

    @property
    def us_per_exit(self) -> float:
        return self.guest_wall_s * 1e6 / self.total_exits if self.total_exits else 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready; port keys are hex strings like "0x3f8"."""
        return {
            "total_exits": self.total_exits,
            "exits_by_reason": dict(sorted(self.exits_by_reason.items())),
            "exits_by_port": {f"{p:#x}": n for p, n in sorted(self.exits_by_port.items())},
            "guest_wall_s": round(self.guest_wall_s, 6),
            "us_per_exit": round(self.us_per_exit, 3),
            "end": "" if self.end is None else self.end.value,
            "backend": self.backend,
            "interrupts_by_irq": {str(irq): n for irq, n in sorted(self.interrupts_by_irq.items())},
            "completed_by_vmm": dict(sorted(self.completed_by_vmm.items())),
        }

    def format_text(self) -> str:
        """A few lines for stderr."""
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.exits_by_reason.items()))
        ports = ", ".join(f"{p:#x} {n}" for p, n in sorted(self.exits_by_port.items()))
        lines = [f"end: {self.end}"]
        if self.backend:
            lines.append(f"backend: {self.backend}")
        lines.append(f"exits: {self.total_exits} ({reasons or 'none'})")
        if ports:
            lines.append(f"exits by port: {ports}")
        if self.interrupts_by_irq:
            total = sum(self.interrupts_by_irq.values())
            by_irq = ", ".join(f"irq{irq} {n}" for irq, n in sorted(self.interrupts_by_irq.items()))
            lines.append(f"interrupts: {total} ({by_irq})")
        if self.completed_by_vmm:
            done = ", ".join(f"{k} {v}" for k, v in sorted(self.completed_by_vmm.items()))
            lines.append(f"completed by the VMM: {done}")
        lines.append(
            f"guest wall time: {self.guest_wall_s * 1e3:.3f} ms, {self.us_per_exit:.2f} us/exit"
        )
        return "\n".join(lines)

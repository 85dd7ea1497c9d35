"""Exit statistics of one run: what made the guest leave KVM_RUN, and what each exit cost.

The totals (ExitStats) read the same whatever the number of vCPUs; a run of several also keeps
each vCPU's own counts (VcpuStats).
"""

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
    "cpus",
    "vcpus",
    "interrupts_by_irq",
    "completed_by_vmm",
)
VCPU_STATS_KEYS = ("id", "total_exits", "exits_by_reason", "exits_by_port", "end")
STOPPED = "stopped"  # a vCPU's end when another vCPU's end stopped the run


def _reasons_json(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items()))


def _ports_json(counts: dict[int, int]) -> dict[str, int]:
    return {f"{p:#x}": n for p, n in sorted(counts.items())}


def _reasons_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _ports_text(counts: dict[int, int]) -> str:
    return ", ".join(f"{p:#x} {n}" for p, n in sorted(counts.items()))


class VcpuStats(Record):
    """One vCPU's exits, counted by its own run loop, and how that vCPU ended: a RunEnd's
    name, or "stopped" when another vCPU's end stopped the run."""

    __slots__ = ("id", "total_exits", "exits_by_reason", "exits_by_port", "end",
                 "completed_by_vmm")

    def __init__(self, id: int = 0) -> None:  # noqa: A002 - the vCPU's id, as the guest sees it
        self.id = id
        self.total_exits = 0
        self.exits_by_reason: dict[str, int] = {}
        self.exits_by_port: dict[int, int] = {}
        self.end = ""
        self.completed_by_vmm: dict[str, int] = {}  # summed into the run's by ExitStats.total

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "total_exits": self.total_exits,
            "exits_by_reason": _reasons_json(self.exits_by_reason),
            "exits_by_port": _ports_json(self.exits_by_port),
            "end": self.end,
        }

    def format_text(self) -> str:
        line = f"vCPU {self.id}: end {self.end}, exits {self.total_exits} " \
               f"({_reasons_text(self.exits_by_reason)})"
        ports = _ports_text(self.exits_by_port)
        return f"{line}, by port {ports}" if ports else line


class ExitStats(Record):
    """Every return from KVM_RUN counts as one exit, the final HLT or HC_EXIT included. With
    several vCPUs the counts are the sums over them, `guest_wall_s` the wall time of the whole
    run, and `vcpus` each one's own counts."""

    __slots__ = ("total_exits", "exits_by_reason", "exits_by_port", "guest_wall_s", "end",
                 "backend", "vcpus", "interrupts_by_irq", "completed_by_vmm")

    def __init__(
        self, total_exits: int = 0, exits_by_reason: dict[str, int] | None = None,
        exits_by_port: dict[int, int] | None = None, guest_wall_s: float = 0.0,
        end: RunEnd | None = None, backend: str = "", vcpus: list[VcpuStats] | None = None,
    ) -> None:  # fmt: skip
        self.total_exits = total_exits
        self.exits_by_reason = {} if exits_by_reason is None else exits_by_reason
        self.exits_by_port = {} if exits_by_port is None else exits_by_port
        self.guest_wall_s = guest_wall_s
        self.end = end
        self.backend = backend  # what ran the guest: "kvm", ...
        self.vcpus = [] if vcpus is None else vcpus  # empty for a run of one vCPU
        self.interrupts_by_irq: dict[int, int] = {}  # external interrupts delivered
        self.completed_by_vmm: dict[str, int] = {}  # instructions the backend gave up on

    @classmethod
    def total(cls, vcpus: list[VcpuStats]) -> ExitStats:
        """The sums over several vCPUs' counts (which it keeps, as `vcpus`)."""
        stats = cls(vcpus=vcpus)
        for v in vcpus:
            stats.total_exits += v.total_exits
            for name, n in v.exits_by_reason.items():
                stats.exits_by_reason[name] = stats.exits_by_reason.get(name, 0) + n
            for port, n in v.exits_by_port.items():
                stats.exits_by_port[port] = stats.exits_by_port.get(port, 0) + n
            for what, n in v.completed_by_vmm.items():
                stats.completed_by_vmm[what] = stats.completed_by_vmm.get(what, 0) + n
        return stats

    @property
    def cpus(self) -> int:
        return len(self.vcpus) or 1

    @property
    def us_per_exit(self) -> float:
        return self.guest_wall_s * 1e6 / self.total_exits if self.total_exits else 0.0

    def _per_vcpu(self) -> list[VcpuStats]:
        if self.vcpus:
            return self.vcpus
        only = VcpuStats(0)  # one vCPU: its counts are the totals
        only.total_exits = self.total_exits
        only.exits_by_reason, only.exits_by_port = self.exits_by_reason, self.exits_by_port
        only.end = "" if self.end is None else self.end.value
        return [only]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready; port keys are hex strings like "0x3f8"."""
        return {
            "total_exits": self.total_exits,
            "exits_by_reason": _reasons_json(self.exits_by_reason),
            "exits_by_port": _ports_json(self.exits_by_port),
            "guest_wall_s": round(self.guest_wall_s, 6),
            "us_per_exit": round(self.us_per_exit, 3),
            "end": "" if self.end is None else self.end.value,
            "backend": self.backend,
            "cpus": self.cpus,
            "vcpus": [v.to_dict() for v in self._per_vcpu()],
            "interrupts_by_irq": {str(irq): n
                                  for irq, n in sorted(self.interrupts_by_irq.items())},
            "completed_by_vmm": dict(sorted(self.completed_by_vmm.items())),
        }

    def format_text(self) -> str:
        """A few lines for stderr (and one per vCPU when there are several)."""
        lines = [f"end: {self.end}"]
        if self.backend:
            lines.append(f"backend: {self.backend}")
        if self.vcpus:
            lines.append(f"cpus: {self.cpus}")
        lines.append(f"exits: {self.total_exits} ({_reasons_text(self.exits_by_reason)})")
        ports = _ports_text(self.exits_by_port)
        if ports:
            lines.append(f"exits by port: {ports}")
        if self.interrupts_by_irq:
            total = sum(self.interrupts_by_irq.values())
            by_irq = ", ".join(f"irq{irq} {n}"
                               for irq, n in sorted(self.interrupts_by_irq.items()))
            lines.append(f"interrupts: {total} ({by_irq})")
        if self.completed_by_vmm:
            done = ", ".join(f"{k} {v}" for k, v in sorted(self.completed_by_vmm.items()))
            lines.append(f"completed by the VMM: {done}")
        lines.append(
            f"guest wall time: {self.guest_wall_s * 1e3:.3f} ms, {self.us_per_exit:.2f} us/exit"
        )
        lines += [v.format_text() for v in self.vcpus]
        return "\n".join(lines)

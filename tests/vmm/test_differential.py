"""The same guest on KVM and on the emulator: everything observable must agree.

Every example and the guest fuzzer's programs run on both backends; stdout, how the run ended,
the exit code, the total exits and the exits by port must be equal, apart from the differences
the README's backend table lists, each allowed here by a named rule:

- KVM_INTERNAL_ERROR: KVM on PVM hosts emulates ring-0 code and lacks some instructions.
- PVM_REAL_MODE_INT: PVM's KVM does not deliver a real-mode `int n` (it stays at the `int`
  until the timeout); the emulator goes through the IVT.
- TIMING: a run that times out has done less of the same work (its output is a prefix of the
  other's and no port saw more exits); the emulator runs ring-0 code faster than PVM's KVM.
- INVALID_LOCK_PREFIX: KVM faults on LOCK before an instruction that cannot take it; QEMU's
  TCG runs the instruction.
- SEGMENT_CHECKS: KVM faults on a data access that segment protection forbids (a write through
  CS, a null DS, a limit); QEMU's TCG checks none of that. Allowed when KVM's triple fault comes
  after the program loaded a segment register or used a segment override.
- IRET_COMPLETED_BY_VMM: PVM's KVM cannot emulate a protected-mode IRET; the VMM completes it
  after an `internal_error` exit, counted in `completed_by_vmm` (those exits are left out).
- TIMER: a guest driven by the real-time timer takes its ticks where they happen to fall, so
  the exits the ticks make (kicks, interrupt windows, and the I/O of its handlers) differ from
  run to run on one backend too; its stdout, end and exit code must agree.

Fuzz programs run in RAM filled with HLT, so control that leaves a program ends there instead
of sliding through zeroed RAM to the end of a 64 KiB segment, where the backends differ (README:
QEMU's TCG checks no segment limits).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from guest_fuzz import GUESTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmm import BootMode, Machine, RunEnd, RunResult

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
TIMEOUT = 0.2
LEGACY_PREFIXES = frozenset((0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF2, 0xF3))
# segment overrides, and instructions that load a segment register (mov, pop, les/lds, far
# jumps and returns); then 0F-prefixed: pop fs/gs, lss/lfs/lgs
SEGMENT_BYTES = frozenset((0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x8E, 0xC4, 0xC5, 0x07, 0x17,
                           0x1F, 0xEA, 0x9A, 0xCA, 0xCB, 0xCF))
SEGMENT_0F_BYTES = frozenset((0xA1, 0xA9, 0xB2, 0xB4, 0xB5))

# example: (guest RAM, stdin, cpp defines)
EXAMPLE_RUNS = {
    "protected/highmem.S": (64 << 20, b"", None),
    "long/highmem.S": (5 << 30, b"", None),
    "io/sum.S": (2 << 20, b"12 34 5\n", None),
    "io/echo.S": (2 << 20, b"hello, world\n", None),
    "io/calc.S": (2 << 20, b"12 34\n", None),
    "protected/sieve.S": (2 << 20, b"", {"LIMIT": "100000"}),  # a million: ~12 s on PVM
    "irq/uart_echo.S": (2 << 20, b"hello, world\n", None),
}
TIMER_EXAMPLES = {"irq/ticks.S", "irq/tasks.S"}


class Seen:
    """What a run shows from outside."""

    def __init__(self, stdout: bytes, result: RunResult) -> None:
        self.stdout = stdout
        self.result = result
        self.end = result.end
        self.ports = dict(result.stats.exits_by_port)
        completed = sum(result.stats.completed_by_vmm.values())  # IRET_COMPLETED_BY_VMM
        self.key = (stdout, result.end, result.exit_code, result.stats.total_exits - completed,
                    self.ports)

    def did_part_of(self, other: Seen) -> bool:
        return other.stdout.startswith(self.stdout) and all(
            n <= other.ports.get(port, 0) for port, n in self.ports.items())


def run_on(backend: str, image: bytes, mode: BootMode, *, entry: int = 0x1000,
           base: int = 0x1000, mem: int = 1 << 20, stdin: bytes = b"", fill: int | None = None,
           timeout: float = TIMEOUT) -> Seen:
    out = io.BytesIO()
    with Machine(mem, backend=backend, output=out, input=io.BytesIO(stdin)) as m:
        if fill is not None:
            m.memory.fill(0, min(mem, 1 << 20), fill)
        m.load_flat(image, base)
        result = m.run(entry, mode, timeout=timeout)
    assert result.stats.backend == backend
    return Seen(out.getvalue(), result)


def lock_prefixed(code: bytes, rip: int | None) -> bool:
    at = (rip or 0) - 0x1000
    while 0 <= at < len(code) and code[at] in LEGACY_PREFIXES:
        at += 1
    return 0 <= at < len(code) and code[at] == 0xF0


def at_int(code: bytes, rip: int | None) -> bool:
    """Whether `rip` is an int n / int3 / into of the program (a real-mode run's CS is 0)."""
    at = (rip or 0) - 0x1000
    while 0 <= at < len(code) and code[at] in LEGACY_PREFIXES:
        at += 1
    return 0 <= at < len(code) and code[at] in (0xCD, 0xCC, 0xCE)


def touches_segments(code: bytes, rip: int | None) -> bool:
    """Whether the program, up to the instruction at `rip`, may load or override a segment."""
    head = code[: max(0, (rip or 0) - 0x1000) + 15]
    return any(b in SEGMENT_BYTES or b == 0x0F and head[i + 1 : i + 2]
               and head[i + 1] in SEGMENT_0F_BYTES for i, b in enumerate(head))


def allowed_difference(code: bytes, kvm: Seen, emu: Seen) -> str | None:
    """The README rule that explains why the two runs differ, or None."""
    if kvm.end is RunEnd.INTERNAL_ERROR:
        return "KVM_INTERNAL_ERROR"
    if kvm.end is RunEnd.TIMEOUT and at_int(code, kvm.result.rip) and kvm.did_part_of(emu):
        return "PVM_REAL_MODE_INT"
    if kvm.end is RunEnd.TIMEOUT and kvm.did_part_of(emu):
        return "TIMING"
    if emu.end is RunEnd.TIMEOUT and kvm.end is RunEnd.TIMEOUT and emu.did_part_of(kvm):
        return "TIMING"
    if kvm.end is RunEnd.SHUTDOWN and lock_prefixed(code, kvm.result.rip):
        return "INVALID_LOCK_PREFIX"
    if (kvm.end is RunEnd.SHUTDOWN and emu.end is not RunEnd.SHUTDOWN
            and touches_segments(code, kvm.result.rip)):
        return "SEGMENT_CHECKS"
    return None


def compare(code: bytes, mode: BootMode) -> None:
    kvm = run_on("kvm", code, mode, fill=0xF4, stdin=b"fuzz")
    emu = run_on("emu", code, mode, fill=0xF4, stdin=b"fuzz")
    if kvm.key != emu.key:
        rule = allowed_difference(code, kvm, emu)
        assert rule, (f"{mode.value} guest {code.hex()}: kvm {kvm.key} {kvm.result.fault}; "
                      f"emu {emu.key} {emu.result.fault}")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 1000,
          suppress_health_check=list(HealthCheck))
@given(code=GUESTS)
def test_fuzz_guests_behave_the_same_on_kvm_and_the_emulator(kvm: str, code: bytes) -> None:
    compare(code, BootMode.REAL)


@settings(max_examples=max(EXAMPLES // 3, 10), deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(code=st.binary(min_size=1, max_size=64),
       mode=st.sampled_from([BootMode.PROTECTED, BootMode.LONG]))
def test_random_code_in_protected_and_long_mode_behaves_the_same(kvm: str, code: bytes,
                                                                 mode: BootMode) -> None:
    compare(code, mode)


@pytest.mark.parametrize("name", sorted(str(p.relative_to(ROOT / "examples"))
                                        for p in (ROOT / "examples").rglob("*.S")))
def test_every_example_behaves_the_same_on_kvm_and_the_emulator(kvm: str, name: str) -> None:
    from kasm.build import build_source

    path = ROOT / "examples" / name
    mem, stdin, defines = EXAMPLE_RUNS.get(name, (2 << 20, b"", None))
    image = build_source(path.read_text(), str(path), defines=defines).image
    base = min((s.address for s in image.loadable), default=image.entry)
    runs = [run_on(b, image.flat(), image.mode, entry=image.entry, base=base, mem=mem,
                   stdin=stdin, timeout=60) for b in ("kvm", "emu")]
    if name in TIMER_EXAMPLES:
        assert runs[0].key[:3] == runs[1].key[:3]
    else:
        assert runs[0].key == runs[1].key
    assert runs[0].end in (RunEnd.HLT, RunEnd.HC_EXIT)

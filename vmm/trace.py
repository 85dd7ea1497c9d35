"""The tracer: every executed instruction (and every VM exit) as one line of text.

A Monitor (vmm.monitor) that single-steps the vCPU (VcpuBackend.set_guest_debug): after each
instruction it reads the registers, and writes

    0000:1003  ac        lodsb (%si), %al        al=48 si=1010        hello.S:8  lodsb

the instruction's address (CS:IP in real mode, else RIP), its bytes, its disassembly in the
mode it ran in, the registers it changed, and its source (from the run's Symbolizer). An
instruction that exits (port I/O, HLT) has no step of its own: its exit stands for it. With
`exits` every exit gets a line of its own (`exit  out 0x3f8 size 1 value 0x48 ...`), and the
run's end one more. Limits: the first `count` instructions, only those inside `ranges`, only
from the first time the guest reaches `start` (run untraced until then, on a breakpoint).
"""

from __future__ import annotations

from vmm import exits as ex
from vmm import registers as rg
from vmm.backend import VcpuBackend
from vmm.devices.hypercall import HYPERCALL_PORT, HYPERCALLS
from vmm.disasm import MAX_INSTRUCTION, disassembler
from vmm.memory import GuestMemory
from vmm.monitor import Monitor
from vmm.paging import read_linear
from vmm.symbolizer import SourceLine, Symbolizer
from vmm.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from vmm.runloop import VcpuEnd

_HYPERCALL_NAMES = {h.number: "HC_" + h.name for h in HYPERCALLS}
_ENDING_EXITS = (ex.Hlt, ex.Mmio, ex.Shutdown, ex.InternalError, ex.FailEntry, ex.Unknown)
_MEMO_MAX = 1 << 16


class TraceOptions(Value):
    """What to trace: `instructions` (single-stepping), `exits`; the limits as addresses."""

    __slots__ = ("instructions", "exits", "count", "start", "ranges")

    def __init__(self, instructions: bool = True, exits: bool = False, count: int | None = None,
                 start: int | None = None, ranges: tuple[tuple[int, int], ...] = ()) -> None:
        self.instructions, self.exits = instructions, exits
        self.count = count  # instructions written, then the guest runs on untraced
        self.start = start  # linear address: trace from the first time it runs
        self.ranges = ranges  # [start, end) linear ranges whose instructions are written


class Tracer(Monitor):
    def __init__(self, out: TextIO, options: TraceOptions,
                 symbolizer: Symbolizer | None = None) -> None:
        self.out = out
        self.options = options
        self.symbolizer = symbolizer or Symbolizer()
        self.written = 0  # instruction lines
        self.last_change = ""  # the last traced instruction and what it changed (for -v)
        self._stepping = False
        self._sources: dict[int, SourceLine | None] = {}
        self._pending_in: tuple[str, tuple[int, ...], int] | None = None
        self._exit_before: tuple[int, ...] | None = None  # registers at the exit before
        self._pending_exit = ""  # an IN's exit line, until its value is known
        # an instruction the backend gave up on (its exit's line, if any): written once done
        self._pending_failed: str | None = None

    # --- Monitor ----------------------------------------------------------------------------
    def attach(self, vcpu: VcpuBackend, memory: GuestMemory) -> None:
        self._vcpu, self._memory = vcpu, memory
        self._before = vcpu.snapshot()
        self._pc = rg.linear_pc(self._before)
        if not self.options.instructions or self.options.count == 0:
            return
        start = self.options.start
        if start is None or start == self._pc:
            self._step()
        else:
            vcpu.set_guest_debug(False, (start,))

    def on_debug(self, exit: ex.Debug) -> VcpuEnd | None:
        if not self._stepping:  # reached the start: from here on, every instruction
            self._step()
            self._before = self._vcpu.snapshot()
            self._pc = exit.pc
            return None
        after = self._vcpu.snapshot()
        self._instruction(after)
        self._before, self._pc = after, exit.pc
        return None

    def on_exit(self, exit: ex.Exit) -> None:
        t = type(exit)
        at = self._pc if self._stepping else None  # where the exit's instruction is
        if self._stepping and t is not ex.Interrupted:
            after = self._vcpu.snapshot()
            if t is ex.IoIn:  # written once the value is in (on_io_in)
                self._pending_in = (self._line(after), after, rg.mode(self._before).width)
            elif t is ex.InternalError:  # written once the VMM has completed it, or at the end
                self._pending_failed = self._exit_line(exit, at) if self.options.exits else ""
                return
            else:
                self._instruction(after)
            self._before, self._pc = after, rg.linear_pc(after)
        elif self.options.exits or not self.written:
            self._exit_before, self._before = self._before, self._vcpu.snapshot()
        if self.options.exits:
            line = self._exit_line(exit, at)
            if t is ex.IoIn:  # with the value, once it is known
                self._pending_exit = line
            else:
                self._write(line)

    def on_completed(self, instruction: str) -> None:
        if self._pending_failed is not None:
            after = self._vcpu.snapshot()
            self._instruction(after)
            self._before, self._pc = after, rg.linear_pc(after)
            self._write(self._pending_failed)
            self._pending_failed = None

    def on_io_in(self, data: bytes) -> None:
        pending, self._pending_in = self._pending_in, None
        value = int.from_bytes(data[:8], "little")
        if pending is not None:
            line, _, _ = pending
            self._write(f"{line}  in={value:#x}" if line else "")
        if self._pending_exit:
            head, _, where = self._pending_exit.partition("  at ")
            self._write(f"{head} value {value:#x}  at {where}")
            self._pending_exit = ""

    def detach(self, end: VcpuEnd) -> None:
        if not self.written and self._exit_before is not None:  # no instruction traced
            self.last_change = since_exit_before(self._exit_before, self._before)
        if self._pending_failed is not None:  # it ended the run, undone
            self._instruction(self._before)
            self._write(self._pending_failed)
        if self._pending_in is not None:
            self._write(self._pending_in[0])
        self._write(self._pending_exit)
        if self.options.exits:
            status = f" {end.status}" if end.end.value == "hc_exit" else ""
            self._write(f"end   {end.end.value}{status}")
        self.out.flush()

    # --- stepping -----------------------------------------------------------------------------
    def _step(self) -> None:
        self._stepping = True
        self._vcpu.set_guest_debug(True)

    def _instruction(self, after: tuple[int, ...]) -> None:
        line = self._line(after)
        if line:
            self._write(line)

    def _line(self, after: tuple[int, ...]) -> str:
        """The line of the instruction at self._pc that took the vCPU from self._before to
        `after` ("" when the limits leave it out)."""
        pc, before = self._pc, self._before
        ranges = self.options.ranges
        if ranges and not any(lo <= pc < hi for lo, hi in ranges):
            return ""
        width = rg.mode(before).width
        code = self._code(pc, before)
        decoded = disassembler().one(code, pc, width) if code else None
        size, text = decoded if decoded is not None else (min(len(code), 1), "(bad)")
        source = self._source(pc)
        where = f"{source.file}:{source.line}" if source else self.symbolizer.label(pc) or ""
        changes = rg.describe(before, after, rg.changed(before, after), width)
        self.last_change = f"{text} at {where or rg.address_text(before)}: {changes or 'none'}"
        self.written += 1
        if self.options.count is not None and self.written >= self.options.count:
            self._stepping = False
            self._vcpu.set_guest_debug()
        shown = code[:size].hex(" ")
        source_text = source.text.strip() if source else ""
        return (f"{rg.address_text(before)}  {shown:<20}  {text:<30}  {changes:<24}  "
                f"{where}  {source_text}").rstrip()

    def _code(self, pc: int, snapshot: tuple[int, ...]) -> bytes:
        s = snapshot
        return read_linear(self._memory, s[rg.CR0], s[rg.CR0 + 2], s[rg.CR0 + 3], s[rg.EFER],
                           pc, MAX_INSTRUCTION)

    def _source(self, pc: int) -> SourceLine | None:
        memo = self._sources
        if pc not in memo:
            if len(memo) >= _MEMO_MAX:
                memo.clear()
            memo[pc] = self.symbolizer.source(pc)
        return memo[pc]

    def _write(self, line: str) -> None:
        if line:
            self.out.write(line + "\n")

    # --- exits --------------------------------------------------------------------------------
    def _exit_line(self, exit: ex.Exit, at: int | None) -> str:
        """`at`: the linear address of the instruction that exited, when known."""
        t = type(exit)
        if t is ex.IoOut:
            value = int.from_bytes(exit.data[: exit.size], "little")
            what = (f"out   port {exit.port:#x} size {exit.size} value {value:#x}"
                    + (f" count {exit.count}" if exit.count > 1 else ""))
            if exit.port == HYPERCALL_PORT:
                what += "  " + _HYPERCALL_NAMES.get(exit.data[0], "unknown hypercall")
        elif t is ex.IoIn:
            what = f"in    port {exit.port:#x} size {exit.size}" + (
                f" count {exit.count}" if exit.count > 1 else "")
        elif t is ex.Mmio:
            kind = "write" if exit.is_write else "read"
            what = f"mmio  {kind} {exit.size} bytes at {exit.address:#x}"
        elif t is ex.InternalError:
            what = f"internal_error suberror {exit.suberror}"
        else:
            what = ex.exit_name(exit)
        snapshot = self._vcpu.snapshot()
        if at is None and t in (ex.IoOut, ex.IoIn, ex.Hlt):  # RIP is past it
            at = self.symbolizer.instruction_before(rg.linear_pc(snapshot))
        where = rg.address_text(snapshot, at)
        source = self._source(at) if at is not None else None
        return f"exit  {what}  at {where}" + (f"  {source.short}" if source else "")


class RegisterWatch(Monitor):
    """For `-v` without a trace: the registers at the last two exits, to say which ones
    changed last (one snapshot an exit; no stepping)."""

    def __init__(self) -> None:
        self._previous: tuple[int, ...] | None = None
        self._last: tuple[int, ...] | None = None
        self.last_change = ""

    def attach(self, vcpu: VcpuBackend, memory: GuestMemory) -> None:
        self._vcpu = vcpu
        self._last = vcpu.snapshot()

    def on_exit(self, exit: ex.Exit) -> None:
        self._previous, self._last = self._last, self._vcpu.snapshot()

    def detach(self, end: VcpuEnd) -> None:
        if self._previous is not None and self._last is not None:
            self.last_change = since_exit_before(self._previous, self._last)


def since_exit_before(before: tuple[int, ...], after: tuple[int, ...]) -> str:
    changes = rg.describe(before, after, rg.changed(before, after), rg.mode(after).width)
    return f"since the exit before (at {rg.address_text(before)}): {changes or 'none'}"

"""Guest debugging on the emulator: single steps and breakpoints as Debug exits.

A step is a run limited to one instruction (unicorn's count); a breakpoint is a code hook on
that one address, which stops the engine before the instruction runs. unicorn checks both when
it translates code, so changing them drops the translated blocks. A count-limited run that ends
after a HLT looks like any other step: vmm.stepping tells them apart, as the KVM backend does.
"""

from __future__ import annotations

from vmm.cpu import CR0_PE
from vmm.emu import engine as e
from vmm.emu import state as st
from vmm.paging import read_linear
from vmm.stepping import MAX_INSTRUCTION, stepped_over_hlt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vmm.emu.vcpu import EmuVcpu


class EmuDebug:
    """One vCPU's debug state: its breakpoint hooks, and what the last stop was."""

    def __init__(self, vcpu: EmuVcpu, single_step: bool, breakpoints: tuple[int, ...]) -> None:
        self._vcpu = vcpu
        self.single_step = single_step
        self.breakpoints = frozenset(breakpoints)
        self.count = 1 if single_step else 0
        self.hit: int | None = None  # the breakpoint a hook stopped at
        self._reported: int | None = None  # where the last Debug exit stopped
        self._skip: int | None = None  # the breakpoint to run over once (resuming from it)
        self._thunk = e.CODE_HOOK(self._on_code)
        self._hooks = [vcpu.engine.hook(e.UC_HOOK_CODE, self._thunk, begin=a, end=a)
                       for a in sorted(self.breakpoints)]
        vcpu.engine.flush_translations()

    def close(self) -> None:
        for handle in self._hooks:
            self._vcpu.engine.unhook(handle)
        self._hooks = []
        self._vcpu.engine.flush_translations()

    def _on_code(self, handle: int, address: int, size: int, data: int) -> None:
        if address == self._skip:
            self._skip = None
            return
        if self.hit is None:
            self.hit = address
            self._vcpu.stop_engine_now()

    def starting(self) -> int:
        """Before a run: the linear address it starts at (a breakpoint the last Debug exit
        stopped at is run over this time, if the guest is still there)."""
        pc = self.linear_pc()
        self._skip = pc if self._reported == pc else None
        self._reported = self.hit = None
        return pc

    def reported(self, pc: int) -> int:
        """A Debug exit stops at `pc`."""
        self._reported = pc
        return pc

    def linear_pc(self) -> int:
        eng = self._vcpu.engine
        rip = eng.u64(e.EIP)
        hflags = eng.u32(e.HFLAGS)
        if hflags & st.HF_CS64:
            return rip
        base = eng.segment(st.SEG_OFFSET["cs"])[1]
        if not eng.u64(e.CR) & CR0_PE:
            return (base + (rip & 0xFFFF)) & 0xFFFFF
        return (base + rip) & 0xFFFF_FFFF

    def stepped_hlt(self, before: int, after: int) -> bool:
        """Whether the step from `before` to `after` ran a HLT."""
        if not 0 < after - before <= MAX_INSTRUCTION:
            return False
        eng = self._vcpu.engine
        cr0, cr3, cr4, efer = (eng.u64(e.CR), eng.u64(e.CR + 24), eng.u64(e.CR + 32),
                               eng.u64(e.EFER))
        code = read_linear(self._vcpu.memory, cr0, cr3, cr4, efer, before, after - before)
        return stepped_over_hlt(code, bool(eng.u32(e.HFLAGS) & st.HF_CS64))

"""Guest debugging on KVM: single steps and breakpoints as Debug exits (KVM_SET_GUEST_DEBUG).

Up to four breakpoints are the CPU's own (debug registers DR0-DR3, KVM_GUESTDBG_USE_HW_BP);
with more, every instruction is stepped and the address compared. Software breakpoints (an
INT3 written into the guest) do not work on KVM's PVM flavour (measured: the guest hangs), so
they are not used. To go on from a breakpoint, the instruction there is stepped with the
breakpoints off, then they are armed again. A step that was a HLT is reported as Hlt
(vmm.stepping): KVM steps over it instead of exiting.
"""

from __future__ import annotations

from vmm import exits as ex
from vmm.cpu import CR0_PE, EFER_LMA
from vmm.kvm import _abi as abi
from vmm.kvm._abi import ffi
from vmm.paging import read_linear
from vmm.stepping import MAX_INSTRUCTION, stepped_over_hlt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vmm.kvm.vcpu import Vcpu

HW_BREAKPOINTS = 4
DR6_BREAKPOINT_HIT = 0xF
DR7_EXEC_ENABLE = (0x1, 0x4, 0x10, 0x40)  # L0..L3; RW and LEN 00: an instruction fetch


class GuestDebug:
    """The debug state of one vCPU and the loop that turns KVM's debug exits into Debug."""

    def __init__(self, vcpu: Vcpu, single_step: bool, breakpoints: tuple[int, ...]) -> None:
        self._vcpu = vcpu
        self.single_step = single_step
        self.breakpoints = frozenset(breakpoints)
        self._hardware = not single_step and len(self.breakpoints) <= HW_BREAKPOINTS
        self._stepping = not self._hardware  # KVM steps every instruction
        self._stopped_at: int | None = None  # the breakpoint the last Debug exit reported
        self._control = -1
        self.inside = False  # True while this loop calls the vCPU's own run
        self._arm(self._stepping, self._hardware)

    def _arm(self, step: bool, hardware: bool) -> None:
        control = abi.KVM_GUESTDBG_ENABLE
        if step:
            control |= abi.KVM_GUESTDBG_SINGLESTEP
        if hardware and self.breakpoints:
            control |= abi.KVM_GUESTDBG_USE_HW_BP
        if control == self._control:
            return
        debug = ffi.new("struct kvm_guest_debug *")
        debug.control = control
        if hardware:
            dr7 = 0
            for i, address in enumerate(sorted(self.breakpoints)):
                debug.debugreg[i] = address
                dr7 |= DR7_EXEC_ENABLE[i]
            debug.debugreg[7] = dr7
        self._vcpu.ioctl(abi.KVM_SET_GUEST_DEBUG, debug, "KVM_SET_GUEST_DEBUG")
        self._control = control

    def run(self) -> ex.Exit:
        """Run until a Debug exit is due (or any other exit)."""
        vcpu = self._vcpu
        while True:
            pc = self._pc()
            resuming = self._stopped_at == pc
            self._stopped_at = None
            if not resuming and not self._hardware and pc in self.breakpoints \
                    and not self.single_step:  # compared, not trapped: look before running
                self._stopped_at = pc
                return ex.Debug(pc, True)
            stepping_over = resuming and self._hardware
            if stepping_over:  # on from a breakpoint: that one instruction without them
                self._arm(True, False)
            self.inside = True
            try:
                exit = vcpu.run()
            finally:
                self.inside = False
            if stepping_over:
                self._arm(False, True)
            if type(exit) is not ex.Unknown or exit.reason != abi.KVM_EXIT_DEBUG:
                return exit
            exit = _RawDebug(vcpu.debug_exit())
            if self._stepped_hlt(pc, exit.pc):
                return ex.HLT
            if stepping_over and not self.single_step:
                continue  # past the breakpoint: run on (the next one stops us)
            hit = exit.pc in self.breakpoints
            if self.single_step or hit or exit.dr6 & DR6_BREAKPOINT_HIT:
                if hit:
                    self._stopped_at = exit.pc
                return ex.Debug(exit.pc, hit)

    def _pc(self) -> int:
        """The linear address of the next instruction."""
        regs, sregs = self._vcpu.live_registers()
        cs = sregs.cs
        if sregs.efer & EFER_LMA and cs.l:
            return regs.rip
        if not sregs.cr0 & CR0_PE:
            return (cs.base + (regs.rip & 0xFFFF)) & 0xFFFFF
        return (cs.base + regs.rip) & 0xFFFF_FFFF

    def _stepped_hlt(self, before: int, after: int) -> bool:
        if not 0 < after - before <= MAX_INSTRUCTION:
            return False
        _, s = self._vcpu.live_registers()
        memory = self._vcpu.vm.memory
        code = read_linear(memory, s.cr0, s.cr3, s.cr4, s.efer, after - 1, 1)
        if code != b"\xf4":
            return False
        code = read_linear(memory, s.cr0, s.cr3, s.cr4, s.efer, before, after - before)
        return stepped_over_hlt(code, bool(s.efer & EFER_LMA and s.cs.l))


class _RawDebug:
    """KVM_EXIT_DEBUG as the debug loop sees it, before it decides what the run loop sees."""

    __slots__ = ("pc", "dr6")

    def __init__(self, pc_dr6: tuple[int, int]) -> None:
        self.pc, self.dr6 = pc_dr6

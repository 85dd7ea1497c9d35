"""A toy vCPU that executes a handful of real x86 instructions from guest memory, with
`set_guest_debug` as the interface defines it: enough for a debugger above the backend
interface (vmm.gdb) to be tested with a real gdb before, and independently of, the real
backends' guest debugging. It is no emulator: anything outside its instruction set ends the run
as an emulation failure.

Instructions: nop; jmp rel8; call; ret; mov %esp,%ebp; mov $imm8,%al; mov $imm,%dx;
mov $imm,%bx (16-bit immediates in 16-bit code, else 32-bit); inc %al; out %al,(%dx); hlt.
Debug exits: after each instruction when single-stepping (but one that exits: an OUT's IoOut
exit stands for its Debug exit, as on KVM and the emulator), and before an instruction at a
breakpoint, not again right after that one was reported (as x86's RF flag).
"""

from __future__ import annotations

from fake_vcpu import FakeVcpu

from vmm import exits as ex
from vmm.cpu import SpecialRegisters, cpu_mode
from vmm.memory import GuestMemory
from vmm.paging import translate
from vmm.vocabulary import CpuMode


class ToyVcpu(FakeVcpu):
    def __init__(self, memory: GuestMemory, sregs: SpecialRegisters | None = None) -> None:
        super().__init__([], sregs)
        self.memory = memory
        self.single_step = False
        self.breakpoints: frozenset[int] = frozenset()
        self.executed = 0
        self._reported_at: int | None = None  # a breakpoint just reported (RF)

    def set_guest_debug(self, single_step: bool = False, breakpoints: tuple[int, ...] = ()
                        ) -> None:
        super().set_guest_debug(single_step, breakpoints)
        self.single_step, self.breakpoints = single_step, frozenset(breakpoints)

    def _pc(self) -> int:
        if cpu_mode(self.sregs) is CpuMode.LONG:
            return self.regs.rip
        return (self.sregs.cs.base + self.regs.rip) & 0xFFFF_FFFF

    def _fetch(self, pc: int, n: int) -> bytes:
        s = self.sregs
        return self.memory.read(translate(self.memory, s.cr0, s.cr3, s.cr4, s.efer, pc), n)

    def run(self) -> ex.Exit:
        self.runs += 1
        while True:
            if self._stop.is_set():
                return ex.INTERRUPTED
            pc = self._pc()
            if pc in self.breakpoints and self._reported_at != pc:
                self._reported_at = pc
                return ex.Debug(pc, breakpoint=True)
            self._reported_at = None
            exit = self._execute(pc)
            self.executed += 1
            if exit is not None:
                return exit
            if self.single_step:
                return ex.Debug(self._pc())

    def _execute(self, pc: int) -> ex.Exit | None:
        regs = self.regs
        wide = 2 if cpu_mode(self.sregs).width == 16 else 4
        op = self._fetch(pc, 1)[0]
        if op == 0x90:
            regs.rip += 1
        elif op == 0xEB:
            rel = int.from_bytes(self._fetch(pc + 1, 1), "little", signed=True)
            regs.rip += 2 + rel
        elif op == 0xB0:
            regs.rax = (regs.rax & ~0xFF) | self._fetch(pc + 1, 1)[0]
            regs.rip += 2
        elif op in (0xBA, 0xBB):
            value = int.from_bytes(self._fetch(pc + 1, wide), "little")
            name = "rdx" if op == 0xBA else "rbx"
            old = getattr(regs, name)
            setattr(regs, name, value if wide == 4 else (old & ~0xFFFF) | value)
            regs.rip += 1 + wide
        elif op == 0xFE and self._fetch(pc + 1, 1)[0] == 0xC0:
            regs.rax = (regs.rax & ~0xFF) | ((regs.rax + 1) & 0xFF)
            regs.rip += 2
        elif op == 0x89 and self._fetch(pc + 1, 1)[0] == 0xE5:  # mov %(e)sp, %(e)bp
            regs.rbp = regs.rsp & (0xFFFF if wide == 2 else 0xFFFF_FFFF)
            regs.rip += 2
        elif op == 0xE8:  # call rel16/rel32: push the return address, jump
            rel = int.from_bytes(self._fetch(pc + 1, wide), "little", signed=True)
            regs.rip += 1 + wide
            self._push(regs.rip)
            regs.rip = (regs.rip + rel) & self._ip_mask()
        elif op == 0xC3:  # ret
            regs.rip = self._pop()
        elif op == 0xEE:
            regs.rip += 1
            return ex.IoOut(regs.rdx & 0xFFFF, 1, bytes([regs.rax & 0xFF]))
        elif op == 0xF4:
            regs.rip += 1
            return ex.HLT
        else:
            return ex.InternalError(ex.EMULATION_FAILURE)
        return None


    def _stack_width(self) -> int:
        return {16: 2, 32: 4, 64: 8}[cpu_mode(self.sregs).width]

    def _ip_mask(self) -> int:
        return (1 << (8 * self._stack_width())) - 1

    def _stack_address(self) -> int:
        s = self.sregs
        linear = s.ss.base + self.regs.rsp if cpu_mode(s) is not CpuMode.LONG else self.regs.rsp
        return translate(self.memory, s.cr0, s.cr3, s.cr4, s.efer, linear)

    def _push(self, value: int) -> None:
        w = self._stack_width()
        self.regs.rsp -= w
        self.memory.write(self._stack_address(), value.to_bytes(w, "little"))

    def _pop(self) -> int:
        w = self._stack_width()
        value = int.from_bytes(self.memory.read(self._stack_address(), w), "little")
        self.regs.rsp += w
        return value


class ToyBackend:
    """A VmBackend factory for vmm.Machine(backend=...): one ToyVcpu over the machine's RAM."""

    name = "toy"
    max_vcpus = 1
    recommended_vcpus = 1

    def __init__(self, memory: GuestMemory) -> None:
        self.memory = memory
        self.vcpu: ToyVcpu | None = None

    def create_vcpu(self, index: int) -> ToyVcpu:
        self.vcpu = ToyVcpu(self.memory)
        return self.vcpu

    def close(self) -> None:
        pass

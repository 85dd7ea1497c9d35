"""The emulated vCPU: one unicorn engine, run until the guest needs the VMM.

An "exit" is the event that would have been a KVM exit. Port I/O: unicorn calls a hook during
the IN/OUT and goes on with the rest of the translated block, so every engine has I/O
breakpoints armed (DR7, and the translator's I/O-breakpoint flag set in its state): QEMU then
raises #DB right after the instruction, and the interrupt hook stops the engine there, with RIP
past the instruction as after a KVM I/O exit. An IN's hook answers 0; `complete_io_in` puts the
real value where the IN put that 0 (AL/AX/EAX, or for INS the memory at ES:DI) before the guest
runs on. HLT is no event in unicorn (the engine just returns): a return without an event and
without a stop request is HLT. Exceptions come to a hook with their vector and are delivered
here (vmm.emu.interrupts); one that cannot be is a triple fault, reported with its name. An
access outside RAM stops at the unmapped-memory hook and is an Mmio exit. External interrupts,
interrupt windows and kicks go through vmm.emu.irq_gate.
"""

from __future__ import annotations

import ctypes
import functools
import threading
import time

from vmm import exits as ex
from vmm.backend import VcpuBackend
from vmm.cpu import Registers, SpecialRegisters
from vmm.emu import engine as e
from vmm.emu import signals, turns
from vmm.emu import state as st
from vmm.emu.interrupts import deliver
from vmm.emu.irq_gate import KICKED, SLICE_END, WINDOW, IrqGate
from vmm.emu.state import EmuCpuState
from vmm.emu.string_io import StringIn, StringIo
from vmm.errors import VmmError
from vmm.memory import GuestMemory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vmm.emu.debug import EmuDebug
    from vmm.emu.turns import Turns

# I/O breakpoints: DR0 covers the UART's 8 ports, DR1 the hypercall port, DR2 is set to any
# other port by the hook. Type 10b (I/O) for all three, enabled (L0-L2), DR0 8 bytes long.
UART_BASE, HYPERCALL = 0x3F8, 0x500
DR7_IO = 0x400 | 0x15 | (2 << 16) | (2 << 18) | (2 << 20) | (2 << 24)
OUT, IN = 0, 1
UD = 6
RSI, RDI, RAX = (e.GPR_OFFSET[n] for n in ("rsi", "rdi", "rax"))
EIP_WORD, RSI_WORD, RDI_WORD = e.EIP // 8, RSI // 8, RDI // 8
_OUT_CACHE_MAX = 4096


class EmuVcpu(VcpuBackend):
    """A vCPU on its own engine; several can share one GuestMemory (each maps the same RAM)."""

    def __init__(self, engine: e.Engine, memory: GuestMemory, index: int = 0) -> None:
        self.engine = engine
        self.index = index
        self._memory = memory
        self._handle = engine.handle
        handle = ctypes.c_void_p(engine.handle)  # converted once, not at every call
        self._emu_start = functools.partial(engine.lib.uc_emu_start, handle)
        self._stop_engine = functools.partial(engine.lib.uc_emu_stop, handle)
        self._save = engine.fast_save()
        self._u64 = engine.u64
        self._words = engine.words
        self.state = EmuCpuState(self)
        self._rip = 0
        self._io: tuple[int, int, int, int, int, int, int] | None = None
        self._exception: tuple[int, int, int, int, int] | None = None
        self._mmio: tuple[int, int, int, int] | None = None
        self._hook_error: BaseException | None = None
        self._pending_in: tuple[int, StringIn | None] | None = None
        self._strings = StringIo(engine, memory, self.set_live_reg)
        self._out_cache: dict[tuple[int, int, int], ex.IoOut] = {}
        self._in_cache: dict[tuple[int, int], ex.IoIn] = {}
        self._extra = SpecialRegisters()
        self._stop = False
        self._kicked = False
        self._in_emu = False
        self._irq = IrqGate(engine, self._save, self._words, self._stop_engine,
                            self._hook_failed)
        self._stop_lock = threading.Lock()
        self._debug: EmuDebug | None = None
        self._turns: Turns | None = None
        self._thunks = (e.OUT_HOOK(self._on_out), e.IN_HOOK(self._on_in),
                        e.INTR_HOOK(self._on_intr), e.MEM_HOOK(self._on_unmapped))
        engine.hook(e.UC_HOOK_INSN, self._thunks[0], e.UC_X86_INS_OUT)
        engine.hook(e.UC_HOOK_INSN, self._thunks[1], e.UC_X86_INS_IN)
        engine.hook(e.UC_HOOK_INTR, self._thunks[2])
        engine.hook(e.UC_HOOK_MEM_UNMAPPED, self._thunks[3])
        engine.set_reg(e.REG_DR0, UART_BASE)
        engine.set_reg(e.REG_DR0 + 1, HYPERCALL)
        engine.set_reg(e.REG_DR7, DR7_IO)

    # --- hooks (called by unicorn in the middle of emu_start; they must not raise) -----------
    def _io_hook(self, kind: int, port: int, size: int, value: int) -> None:
        try:
            self._save()
            words = self._words
            self._io = (kind, port, size, value, words[EIP_WORD], words[RSI_WORD], words[RDI_WORD])
            if not (UART_BASE <= port < UART_BASE + 8 or port == HYPERCALL):
                self.engine.set_reg(e.REG_DR0 + 2, port)
        except BaseException as exc:  # noqa: BLE001 - reported by run()
            self._hook_failed(exc)

    def _on_out(self, handle: int, port: int, size: int, value: int, data: int) -> None:
        self._io_hook(OUT, port, size, value)

    def _on_in(self, handle: int, port: int, size: int, data: int) -> int:
        self._io_hook(IN, port, size, 0)
        return 0

    def _on_intr(self, handle: int, vector: int, data: int) -> None:
        try:
            if vector != 1 or self._io is None:  # else: the I/O breakpoint after an IN/OUT
                eng = self.engine
                eng.snapshot()
                eng.save()
                self._exception = (vector, eng.u32(e.EXCEPTION_IS_INT), eng.u32(e.ERROR_CODE),
                                   eng.u64(e.EIP), eng.u64(e.EXCEPTION_NEXT_EIP))
            self._stop_engine()
        except BaseException as exc:  # noqa: BLE001
            self._hook_failed(exc)

    def _on_unmapped(self, handle: int, access: int, address: int, size: int, value: int,
                     data: int) -> bool:
        if self._mmio is None:
            self._mmio = (access, address, size, value)
        return False

    def _hook_failed(self, exc: BaseException) -> None:
        if self._hook_error is None:
            self._hook_error = exc
        self._stop_engine()

    # --- running ------------------------------------------------------------------------------
    @property
    def memory(self) -> GuestMemory:
        return self._memory

    def stop_engine_now(self) -> None:
        """uc_emu_stop from a hook of this vCPU's own run."""
        self._stop_engine()

    def take_turns(self, shared: Turns) -> None:
        """Run guest code only in this vCPU's turns from now on (vmm.emu.turns): a run of
        several vCPUs. The one-vCPU `run` stays as it is."""
        self._turns = shared
        self._irq.install(turns.SLICE_BLOCKS)
        self.run = functools.partial(shared.run, self, self.run)  # type: ignore[method-assign]

    def set_guest_debug(self, single_step: bool = False, breakpoints: tuple[int, ...] = ()
                        ) -> None:
        if self._debug is not None:
            self._debug.close()
            self._debug = None
        if single_step or breakpoints:
            from vmm.emu.debug import EmuDebug

            self._debug = EmuDebug(self, single_step, tuple(breakpoints))

    def run(self) -> ex.Exit:
        """Emulate until the next event a KVM vCPU would exit for; deliver exceptions."""
        signals.watch(self)
        debug = self._debug
        while True:
            if self._stop:
                return ex.INTERRUPTED
            if self._irq.hooked:
                outcome = self._interrupt_entry()
                if outcome is not None:
                    return outcome
            self._io = self._exception = self._mmio = None
            before = debug.starting() if debug is not None else 0
            self._in_emu = True
            err = self._emu_start(self._rip, e.NO_END, 0, debug.count if debug else 0)
            self._in_emu = False
            self._save()
            self._rip = self._words[EIP_WORD]
            if self._hook_error is not None:
                exc, self._hook_error = self._hook_error, None
                raise exc
            io = self._io
            stopped_for = self._irq.take_stop(bool(io or self._exception or self._mmio))
            if io is not None:
                return self._io_exit(*io)
            if self._exception is not None:
                eng = self.engine
                eng.back_to_snapshot()
                self._save()
                # unicorn never delivers, so QEMU would still see this one "in flight" at the
                # next exception and make that a double fault
                eng.put_u32(e.OLD_EXCEPTION, 0xFFFF_FFFF)
                eng.restore()
                outcome = self._deliver(*self._exception)
                if outcome is not None:
                    return outcome
                if debug is not None and debug.single_step:  # the step went into a handler
                    pc = debug.linear_pc()
                    return ex.Debug(debug.reported(pc), pc in debug.breakpoints)
                continue
            if self._mmio is not None:
                return self._mmio_exit(*self._mmio)
            if err == e.UC_ERR_INSN_INVALID:  # unicorn's #UD: no hook call
                outcome = self._deliver(UD, 0, 0, self._rip, self._rip)
                if outcome is not None:
                    return outcome
                continue
            if err != e.UC_ERR_OK:
                return ex.InternalError(ex.EMULATION_FAILURE, (err,))
            if stopped_for == WINDOW:
                return ex.IRQ_WINDOW_OPEN
            if stopped_for == KICKED:
                return ex.INTERRUPTED
            if stopped_for == SLICE_END:
                return turns.SLICE_OVER
            if self._stop or self._kicked:
                self._kicked = False
                return ex.INTERRUPTED
            if debug is not None:
                if debug.hit is not None:
                    return ex.Debug(debug.reported(debug.hit), True)
                if debug.single_step:
                    pc = debug.linear_pc()
                    if not debug.stepped_hlt(before, pc):
                        return ex.Debug(debug.reported(pc), pc in debug.breakpoints)
            return ex.HLT

    def _io_exit(self, kind: int, port: int, size: int, value: int, hook_rip: int,
                 hook_rsi: int, hook_rdi: int) -> ex.Exit:
        words = self._words
        if kind == OUT:
            if words[RSI_WORD] != hook_rsi:  # OUTS
                self._strings.finish_outs_step(hook_rip)
            key = (port, size, value)
            exit = self._out_cache.get(key)
            if exit is None:
                if len(self._out_cache) >= _OUT_CACHE_MAX:
                    self._out_cache.clear()
                exit = self._out_cache[key] = ex.IoOut(port, size, value.to_bytes(size, "little"))
            return exit
        if words[RDI_WORD] != hook_rdi:  # INS
            ins = self._strings.ins_exit(size, hook_rip, hook_rdi)
            self._pending_in = (size, ins)
            return ex.IoIn(port, size, ins.n)
        self._pending_in = (size, None)
        exit_in = self._in_cache.get((port, size))
        if exit_in is None:
            exit_in = self._in_cache[(port, size)] = ex.IoIn(port, size, 1)
        return exit_in

    def complete_io_in(self, data: bytes) -> None:
        """Put the IN's value where the hook's placeholder went: AL/AX/EAX, or INS memory."""
        pending = self._pending_in
        if pending is None:
            raise VmmError("vcpu: complete_io_in without a pending IN exit")
        self._pending_in = None
        size, string = pending
        if string is not None:
            self._strings.complete_ins(size, string, data)
            return
        value = int.from_bytes(data[:size], "little")
        rax = self._u64(RAX)
        mask = (1 << 8 * size) - 1 if size < 4 else 0xFFFF_FFFF_FFFF_FFFF
        self.set_live_reg("rax", (rax & ~mask) | value)

    def _deliver(self, vector: int, is_int: int, error_code: int, fault_rip: int,
                 next_rip: int, external: bool = False) -> ex.Exit | None:
        software = bool(is_int)
        rip = next_rip if software else fault_rip
        self.set_live_reg("rip", rip)
        failed = deliver(self.engine, self._memory, vector, software, error_code, rip, external)
        self._save()
        self._rip = self._u64(e.EIP)
        if failed is None:
            return None
        return ex.Shutdown(f"{failed} could not be delivered")

    def _mmio_exit(self, access: int, address: int, size: int, value: int) -> ex.Exit:
        if access == e.UC_MEM_FETCH_UNMAPPED:
            return ex.Mmio(address, b"", size, False)
        write = access == e.UC_MEM_WRITE_UNMAPPED
        data = (value & ((1 << 8 * size) - 1)).to_bytes(size, "little") if write else b""
        if write:
            self._complete_write(address, size)
        return ex.Mmio(address, data, size, write)

    def _complete_write(self, address: int, size: int) -> None:
        """KVM completes an MMIO write before it exits, so RIP is past the instruction: run
        that one instruction with a scratch page where the write goes."""
        lib, handle = self.engine.lib, self._handle
        start = address & ~0xFFF
        length = ((address + max(size, 1) + 0xFFF) & ~0xFFF) - start
        if lib.uc_mem_map(handle, start, length, e.UC_PROT_ALL) != e.UC_ERR_OK:
            return
        try:
            self._io = self._exception = self._mmio = None
            self.engine.flush_translations()
            lib.uc_emu_start(handle, self._rip, e.NO_END, 0, 1)
        finally:
            lib.uc_mem_unmap(handle, start, length)
        self._save()
        self._rip = self._u64(e.EIP)

    # --- registers ----------------------------------------------------------------------------
    def set_live_reg(self, name: str, value: int) -> None:
        """Write one register now, in the engine and in the state copy."""
        value &= 0xFFFF_FFFF_FFFF_FFFF
        eng = self.engine
        if name == "rflags":
            eng.set_reg(e.REG_RFLAGS, value)
            return
        offset = e.EIP if name == "rip" else e.GPR_OFFSET[name]
        eng.put_u64(offset, value)
        eng.restore()
        if name == "rip":
            self._rip = value

    def get_regs(self) -> Registers:
        self._save()
        return st.read_registers(self.engine)

    def set_regs(self, regs: Registers) -> None:
        st.write_registers(self.engine, regs)
        self._save()
        self._rip = regs.rip

    def snapshot(self) -> tuple[int, ...]:
        return st.snapshot(self.engine)

    def get_sregs(self) -> SpecialRegisters:
        self._save()
        return st.read_special(self.engine, self._extra)

    def set_sregs(self, sregs: SpecialRegisters) -> None:
        self._extra = sregs
        st.write_special(self.engine, sregs)
        self._save()

    # --- external interrupts --------------------------------------------------------------------
    def expect_interrupts(self) -> None:
        self._irq.install()

    def interrupt_ready(self) -> bool:
        return self._irq.ready()

    def inject_interrupt(self, vector: int) -> None:
        self._irq.pending_vector = vector

    def request_interrupt_window(self, wanted: bool) -> None:
        self._irq.want_window = wanted

    def _interrupt_entry(self) -> ex.Exit | None:
        """What KVM does as it enters the guest: a kick returns at once, an injected
        interrupt is delivered, an open window asked for exits at once."""
        gate = self._irq
        if gate.kick_pending:
            gate.kick_pending = False
            return ex.INTERRUPTED
        vector = gate.pending_vector
        if vector is not None:
            gate.pending_vector = None
            return self._deliver(vector, 0, 0, self._rip, self._rip, external=True)
        if gate.want_window and gate.interruptible():
            return ex.IRQ_WINDOW_OPEN
        return None

    # --- stopping -----------------------------------------------------------------------------
    @property
    def stop_requested(self) -> bool:
        return self._stop

    def request_stop(self) -> None:
        """Stop the engine from any thread. uc_emu_stop is lost if it lands just before
        emu_start begins, so while the vCPU is still running it is repeated until run()
        returns."""
        with self._stop_lock:
            self._stop = True
            if not self._handle:
                return
            self._stop_engine()
        if self._in_emu:
            threading.Thread(target=self._repeat_stop, daemon=True).start()
        if self._turns is not None:
            self._turns.wake()

    def _repeat_stop(self) -> None:
        for _ in range(2000):
            time.sleep(0.005)
            with self._stop_lock:
                if not (self._in_emu and self._stop and self._handle):
                    return
                self._stop_engine()

    def kick(self) -> None:
        """Make run() return Interrupted soon (a timer tick, or a signal arrived for the
        thread running it). With the block hook it stops at the next block; without it, the
        engine is stopped at once (a return then cannot be told from a HLT, which is fine
        for a signal: the run ends)."""
        with self._stop_lock:
            if self._irq.hooked:
                self._irq.kick_pending = True
                return
            self._kicked = True
            if self._handle:
                self._stop_engine()

    def clear_stop(self) -> None:
        signals.unwatch(self)
        self._stop = False
        self._kicked = self._irq.kick_pending = False
        if self._turns is not None:
            self._turns.release(self.index)

    def close(self) -> None:
        signals.unwatch(self)
        with self._stop_lock:
            self._handle = 0
        self.engine.close()

    @property
    def closed(self) -> bool:
        return not self._handle


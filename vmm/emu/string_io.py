"""INS and OUTS on the emulator, as KVM shows them.

The I/O breakpoint that stops the engine after an IN/OUT fires after one repetition of a
string instruction, before QEMU decremented (E/R)CX and with RIP already past the instruction.
OUTS: this module does the decrement and goes back to the instruction while repetitions remain
(one exit a repetition, as KVM's emulator does). INS: it reads ahead as KVM does (up to the end
of the page at DI, or its start going down, 1024 bytes and the count) in one exit, then stores
what the device answered and moves DI, CX and RIP past all those repetitions.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from vmm.emu import engine as e
from vmm.emu import state as st
from vmm.emu.interrupts import GuestAccess, Undeliverable
from vmm.memory import GuestMemory

STRING_OPCODES = frozenset((0x6C, 0x6D, 0x6E, 0x6F))
PREFIXES = frozenset((0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3))
RCX, RDI = e.GPR_OFFSET["rcx"], e.GPR_OFFSET["rdi"]
DF = 172  # QEMU's env->df: 1, or -1 when EFLAGS.DF is set


class StringIn:
    """An INS exit in flight: where its items go and what the repeat count becomes."""

    __slots__ = ("rip", "rdi", "bits", "rep", "down", "count", "n")

    def __init__(self, rip: int, rdi: int, bits: int, rep: bool, down: bool, count: int,
                 n: int) -> None:
        self.rip, self.rdi, self.bits, self.rep = rip, rdi, bits, rep
        self.down, self.count, self.n = down, count, n


class StringIo:
    """String I/O fix-ups on one engine's state; `write_reg` writes a register at once."""

    def __init__(self, engine: e.Engine, memory: GuestMemory,
                 write_reg: Callable[[str, int], None]) -> None:
        self._engine = engine
        self._memory = memory
        self._write_reg = write_reg

    def _instruction(self, rip: int) -> bytes:
        eng = self._engine
        base = 0 if eng.u32(e.HFLAGS) & st.HF_CS64 else eng.segment(st.SEG_OFFSET["cs"])[1]
        try:
            return GuestAccess(eng, self._memory).read((base + rip) & 0xFFFF_FFFF_FFFF_FFFF, 15)
        except Undeliverable:
            return b""

    def string_instruction(self, rip: int) -> tuple[bool, int] | None:
        """(rep prefix?, address size) of the INS/OUTS at `rip`, or None for another IN/OUT."""
        code = self._instruction(rip)
        hflags = self._engine.u32(e.HFLAGS)
        long = hflags & st.HF_CS64
        n = 0
        while n < len(code) and (code[n] in PREFIXES or long and 0x40 <= code[n] <= 0x4F):
            n += 1
        if not (n < len(code) and code[n] in STRING_OPCODES):
            return None
        prefixes = code[:n]
        bits = 64 if long else 32 if hflags & st.HF_CS32 else 16
        if 0x67 in prefixes:
            bits = 32 if bits != 32 else 16
        return 0xF3 in prefixes or 0xF2 in prefixes, bits

    def _set_count(self, name: str, value: int, bits: int) -> None:
        """Write CX/ECX/RCX (or DI...) at an address size: a 32-bit write clears the top."""
        mask = (1 << bits) - 1
        old = self._engine.u64(e.GPR_OFFSET[name])
        self._write_reg(name, value & mask if bits == 32 else (old & ~mask) | (value & mask))

    def finish_outs_step(self, hook_rip: int) -> None:
        info = self.string_instruction(hook_rip)
        if info is None or not info[0]:
            return
        rep_bits = info[1]
        count = (self._engine.u64(RCX) - 1) & ((1 << rep_bits) - 1)
        self._set_count("rcx", count, rep_bits)
        if count:
            self._write_reg("rip", hook_rip)

    def ins_exit(self, size: int, hook_rip: int, hook_rdi: int) -> StringIn:
        rep, bits = self.string_instruction(hook_rip) or (False, 16)
        count = self._engine.u64(RCX) & ((1 << bits) - 1) if rep else 1
        down = struct.unpack_from("<i", self._engine.state, DF)[0] < 0
        in_page = hook_rdi & 0xFFF if down else 0x1000 - (hook_rdi & 0xFFF)
        n = min(in_page, 1024 // size, count) or 1
        return StringIn(hook_rip, hook_rdi, bits, rep, down, count, n)

    def complete_ins(self, size: int, ins: StringIn, data: bytes) -> None:
        mask = (1 << ins.bits) - 1
        step = -size if ins.down else size
        es = 0 if ins.bits == 64 else self._engine.segment(st.SEG_OFFSET["es"])[1]
        access = GuestAccess(self._engine, self._memory)
        for i in range(ins.n):
            linear = es + ((ins.rdi + i * step) & mask)
            try:
                access.write(linear if ins.bits == 64 else linear & 0xFFFF_FFFF,
                             data[i * size : (i + 1) * size])
            except Undeliverable:
                break  # the INS itself could not have stored there
        self._set_count("rdi", ins.rdi + ins.n * step, ins.bits)
        if ins.rep:
            left = (ins.count - ins.n) & mask
            self._set_count("rcx", left, ins.bits)
            if left:
                self._write_reg("rip", ins.rip)

"""Exception and interrupt delivery, which unicorn leaves to its user.

unicorn reports every exception and `int n` to a hook with its vector and never delivers it to
the guest. This module does what the CPU would: through the real-mode IVT, or a protected- or
long-mode IDT gate to ring-0 code (the only privilege level these guests have), pushing the
frame and the error code. An exception that cannot be delivered becomes #GP, then #DF, then a
triple fault, which ends the run as KVM's shutdown exit does, naming the first exception.
"""

from __future__ import annotations

import struct

from vmm.cpu import (
    CR0_PE,
    EFLAGS_AC,
    EFLAGS_IF,
    EFLAGS_NT,
    EFLAGS_RF,
    EFLAGS_TF,
    EFLAGS_VM,
    descriptor_cache,
)
from vmm.emu import engine as e
from vmm.emu import state as st
from vmm.errors import GuestMemoryError
from vmm.memory import PAGE_SIZE, GuestMemory
from vmm.paging import translate
from vmm.vectors import ERROR_CODE_VECTORS, vector_name

CONTRIBUTORY = frozenset((0, 10, 11, 12, 13))
GP, DF, PF = 13, 8, 14


class Undeliverable(Exception):
    """Delivery through this vector failed (the CPU would raise #GP or #DF next)."""


class GuestAccess:
    """Guest linear memory as the CPU reaches it, through the guest's page tables."""

    def __init__(self, engine: e.Engine, memory: GuestMemory) -> None:
        self._engine = engine
        self._memory = memory

    def _physical(self, linear: int) -> int:
        eng = self._engine
        cr0, cr3, cr4, efer = (eng.u64(e.CR), eng.u64(e.CR + 24), eng.u64(e.CR + 32),
                               eng.u64(e.EFER))
        try:
            return translate(self._memory, cr0, cr3, cr4, efer, linear)
        except GuestMemoryError as err:
            raise Undeliverable(str(err)) from None

    def _pieces(self, linear: int, length: int) -> list[tuple[int, int, int]]:
        out, done = [], 0
        while done < length:
            n = min(length - done, PAGE_SIZE - ((linear + done) & (PAGE_SIZE - 1)))
            out.append((self._physical(linear + done), done, n))
            done += n
        return out

    def read(self, linear: int, length: int) -> bytes:
        try:
            return b"".join(self._memory.read(p, n) for p, _, n in self._pieces(linear, length))
        except GuestMemoryError as err:
            raise Undeliverable(str(err)) from None

    def write(self, linear: int, data: bytes) -> None:
        pieces = self._pieces(linear, len(data))
        try:
            for phys, _, n in pieces:
                self._memory.check(phys, n)
            for phys, at, n in pieces:
                self._memory.write(phys, data[at : at + n])
        except GuestMemoryError as err:
            raise Undeliverable(str(err)) from None


def deliver(engine: e.Engine, memory: GuestMemory, vector: int, software: bool,
            error_code: int, return_rip: int, external: bool = False) -> str | None:
    """Deliver `vector` with the state of a fresh save(); None when delivered, else what could
    not be delivered (the run ends as a triple fault). An external interrupt (from the PICs)
    pushes no error code whatever its vector."""
    access = GuestAccess(engine, memory)
    first = vector_name(vector, software, external)
    attempt, code, is_soft = vector, error_code, software
    while True:
        try:
            _deliver_once(engine, access, attempt, is_soft, code, return_rip, external)
            return None
        except Undeliverable:
            if attempt == DF and not external:
                return first
            escalate_to_df = attempt == GP and not external or (
                not is_soft and not external and (attempt in CONTRIBUTORY or attempt == PF))
            attempt, code = (DF, 0) if escalate_to_df else (GP, attempt * 8 + 2 + external)
            is_soft = external = False


def _deliver_once(engine: e.Engine, access: GuestAccess, vector: int, software: bool,
                  error_code: int, rip: int, external: bool) -> None:
    engine.save()
    cr0 = engine.u64(e.CR)
    _, idt_base, idt_limit, _ = engine.segment(e.IDT)
    has_code = vector in ERROR_CODE_VECTORS and not software and not external
    if not cr0 & CR0_PE:
        _deliver_real(engine, access, vector, idt_base, idt_limit, rip)
    elif engine.u32(e.HFLAGS) & st.HF_LMA:
        _deliver_long(engine, access, vector, software, has_code, error_code, idt_base,
                      idt_limit, rip)
    else:
        _deliver_protected(engine, access, vector, software, has_code, error_code, idt_base,
                           idt_limit, rip)


def _deliver_real(engine: e.Engine, access: GuestAccess, vector: int, idt_base: int,
                  idt_limit: int, rip: int) -> None:
    if vector * 4 + 3 > idt_limit:
        raise Undeliverable("vector beyond the IVT limit")
    offset, selector = struct.unpack("<HH", access.read(idt_base + vector * 4, 4))
    flags = engine.reg(e.REG_RFLAGS)
    cs = engine.segment(st.SEG_OFFSET["cs"])
    _push(engine, access, ((flags & 0xFFFF), cs[0], rip & 0xFFFF), 2)
    engine.put_segment(st.SEG_OFFSET["cs"], selector, selector << 4, cs[2], cs[3])
    _enter(engine, offset, flags & ~(EFLAGS_IF | EFLAGS_TF | EFLAGS_AC | EFLAGS_RF))


def _gate_target(engine: e.Engine, access: GuestAccess, selector: int) -> tuple[int, int, int]:
    """(base, limit, flags) of the ring-0 code segment an IDT gate points to."""
    if selector & 4:
        _, table, limit, _ = engine.segment(e.LDT)
    else:
        _, table, limit, _ = engine.segment(e.GDT)
    index = selector & ~7
    if not index or index + 7 > limit:
        raise Undeliverable("gate selector outside the descriptor table")
    low, high = struct.unpack("<II", access.read(table + index, 8))
    base, seg_limit, flags = descriptor_cache(low, high)
    code = flags & 1 << 12 and flags & 1 << 11
    if not (flags & st.DESC_P and code) or flags >> 13 & 3:
        raise Undeliverable("gate target is not a present ring-0 code segment")
    return base, seg_limit, flags


def _deliver_protected(engine: e.Engine, access: GuestAccess, vector: int, software: bool,
                       has_code: bool, error_code: int, idt_base: int, idt_limit: int,
                       rip: int) -> None:
    if vector * 8 + 7 > idt_limit:
        raise Undeliverable("vector beyond the IDT limit")
    low, high = struct.unpack("<II", access.read(idt_base + vector * 8, 8))
    kind = high >> 8 & 0x1F
    if not high & st.DESC_P or kind not in (0x06, 0x07, 0x0E, 0x0F):
        raise Undeliverable("not a present interrupt or trap gate")  # task gates too
    if software and high >> 13 & 3 < engine.u32(e.HFLAGS) & st.HF_CPL:
        raise Undeliverable("gate privilege")
    selector = low >> 16
    base, limit, flags = _gate_target(engine, access, selector)
    wide = kind & 0x08
    target = (low & 0xFFFF) | (high & 0xFFFF_0000 if wide else 0)
    rflags = engine.reg(e.REG_RFLAGS)
    frame = [rflags & 0xFFFF_FFFF, engine.segment(st.SEG_OFFSET["cs"])[0], rip & 0xFFFF_FFFF]
    if has_code:
        frame.append(error_code)
    _push(engine, access, frame, 4 if wide else 2)
    engine.put_segment(st.SEG_OFFSET["cs"], selector & ~3, base, limit, flags)
    cleared = EFLAGS_TF | EFLAGS_NT | EFLAGS_RF | EFLAGS_VM | (0 if kind & 1 else EFLAGS_IF)
    _enter(engine, target, rflags & ~cleared)


def _deliver_long(engine: e.Engine, access: GuestAccess, vector: int, software: bool,
                  has_code: bool, error_code: int, idt_base: int, idt_limit: int,
                  rip: int) -> None:
    if vector * 16 + 15 > idt_limit:
        raise Undeliverable("vector beyond the IDT limit")
    low, high, upper, _ = struct.unpack("<IIII", access.read(idt_base + vector * 16, 16))
    kind = high >> 8 & 0x1F
    if not high & st.DESC_P or kind not in (0x0E, 0x0F) or high & 7:
        raise Undeliverable("not a present 64-bit gate without an IST stack")
    if software and high >> 13 & 3 < engine.u32(e.HFLAGS) & st.HF_CPL:
        raise Undeliverable("gate privilege")
    selector = low >> 16
    base, limit, flags = _gate_target(engine, access, selector)
    if not flags & st.DESC_L:
        raise Undeliverable("gate target is not 64-bit code")
    rflags = engine.reg(e.REG_RFLAGS)
    rsp = engine.u64(e.GPR_OFFSET["rsp"])
    frame = [engine.segment(st.SEG_OFFSET["ss"])[0], rsp, rflags,
             engine.segment(st.SEG_OFFSET["cs"])[0], rip]
    if has_code:
        frame.append(error_code)
    engine.put_u64(e.GPR_OFFSET["rsp"], rsp & ~0xF)
    _push(engine, access, frame, 8)
    engine.put_segment(st.SEG_OFFSET["cs"], selector & ~3, base, limit, flags)
    cleared = EFLAGS_TF | EFLAGS_NT | EFLAGS_RF | (0 if kind & 1 else EFLAGS_IF)
    _enter(engine, (low & 0xFFFF) | (high & 0xFFFF_0000) | upper << 32, rflags & ~cleared)


def _push(engine: e.Engine, access: GuestAccess, values: list[int] | tuple[int, ...],
          size: int) -> None:
    """Push `values` in order on SS:SP, at the stack width SS gives (64 in long mode)."""
    hflags = engine.u32(e.HFLAGS)
    rsp = engine.u64(e.GPR_OFFSET["rsp"])
    if hflags & st.HF_CS64:
        mask, base = 0xFFFF_FFFF_FFFF_FFFF, 0
    else:
        mask = 0xFFFF_FFFF if hflags & st.HF_SS32 else 0xFFFF
        base = engine.segment(st.SEG_OFFSET["ss"])[1]
    sp = rsp & mask
    frame = b"".join(v.to_bytes(size, "little", signed=False) for v in
                     (x & ((1 << 8 * size) - 1) for x in reversed(values)))
    sp = (sp - len(frame)) & mask
    access.write((base + sp) & (0xFFFF_FFFF_FFFF_FFFF if mask > 0xFFFF_FFFF else 0xFFFF_FFFF),
                 frame)
    engine.put_u64(e.GPR_OFFSET["rsp"], (rsp & ~mask) | sp)


def _enter(engine: e.Engine, rip: int, rflags: int) -> None:
    engine.put_u64(e.EIP, rip)
    st.refresh_hflags(engine)
    engine.restore()
    engine.set_reg(e.REG_RFLAGS, rflags)

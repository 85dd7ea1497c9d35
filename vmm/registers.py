"""Register changes as a trace or a report names them: `ax=0001 flags=0046 cr0=00000011`.

A general register is named at the width of the mode the instruction ran in (`ax` in 16-bit
code), widened when bits above that width changed (`ecx` when a real-mode `movl` set its upper
half). Snapshots are VcpuBackend.snapshot() tuples (vmm.cpu.SNAPSHOT_NAMES).
"""

from __future__ import annotations

from vmm.cpu import CR0_PE, EFER_LMA, SNAPSHOT_NAMES, SNAPSHOT_SHOWN, mode_of
from vmm.vocabulary import CpuMode

RIP = SNAPSHOT_NAMES.index("rip")
RFLAGS = SNAPSHOT_NAMES.index("rflags")
CS, CR0, EFER = (SNAPSHOT_NAMES.index(n) for n in ("cs", "cr0", "efer"))
CS_BASE, CS_L, CS_DB = (SNAPSHOT_NAMES.index(n) for n in ("cs_base", "cs_l", "cs_db"))
_SEGMENTS = frozenset(SNAPSHOT_NAMES.index(n) for n in ("cs", "ds", "es", "fs", "gs", "ss"))
_BYTE_REGISTERS = {"rax": "al", "rbx": "bl", "rcx": "cl", "rdx": "dl"}
_LEGACY = {"rax": "ax", "rbx": "bx", "rcx": "cx", "rdx": "dx", "rsi": "si", "rdi": "di",
           "rsp": "sp", "rbp": "bp"}


def mode(snapshot: tuple[int, ...]) -> CpuMode:
    return mode_of(snapshot[CR0], snapshot[EFER], snapshot[CS_L], snapshot[CS_DB])


def linear_pc(snapshot: tuple[int, ...]) -> int:
    """The linear address of the next instruction."""
    rip = snapshot[RIP]
    if snapshot[EFER] & EFER_LMA and snapshot[CS_L]:
        return rip
    if not snapshot[CR0] & CR0_PE:
        return (snapshot[CS_BASE] + (rip & 0xFFFF)) & 0xFFFFF
    return (snapshot[CS_BASE] + rip) & 0xFFFF_FFFF


def address_text(snapshot: tuple[int, ...], linear: int | None = None) -> str:
    """CS:IP in real mode, else RIP (8 digits, 16 in 64-bit code): of the next instruction,
    or of the one at `linear`."""
    rip = snapshot[RIP]
    if linear is not None:
        rip = linear if snapshot[EFER] & EFER_LMA and snapshot[CS_L] else linear - snapshot[
            CS_BASE]
    if not snapshot[CR0] & CR0_PE:
        return f"{snapshot[CS]:04x}:{rip & 0xFFFF:04x}"
    if snapshot[EFER] & EFER_LMA and snapshot[CS_L]:
        return f"{rip:016x}"
    return f"{rip & 0xFFFF_FFFF:08x}"


def register_name(name: str, width: int) -> str:
    """rax -> ax / eax / rax, r8 -> r8w / r8d / r8, rflags -> flags / eflags / rflags."""
    if name == "rflags":
        return {16: "flags", 32: "eflags"}.get(width, "rflags")
    if name in _LEGACY:
        legacy = _LEGACY[name]
        return {16: legacy, 32: "e" + legacy}.get(width, name)
    return name + {16: "w", 32: "d"}.get(width, "")


def changed(before: tuple[int, ...], after: tuple[int, ...]) -> list[int]:
    """Indices of the shown registers that differ (RIP, which every instruction moves, and
    the mode fields are left out)."""
    return [i for i in range(SNAPSHOT_SHOWN) if before[i] != after[i] and i != RIP]


def describe(before: tuple[int, ...], after: tuple[int, ...], indices: list[int],
             width: int) -> str:
    """`name=value` for each changed register, values in hex at the width shown."""
    parts = []
    for i in indices:
        name, value = SNAPSHOT_NAMES[i], after[i]
        if i in _SEGMENTS:
            parts.append(f"{name}={value:04x}")
        elif i <= RFLAGS:
            diff = before[i] ^ value
            if name in _BYTE_REGISTERS and not diff >> 8:  # only AL (BL, CL, DL) changed
                parts.append(f"{_BYTE_REGISTERS[name]}={value & 0xFF:02x}")
                continue
            w = width
            while w < 64 and diff >> w:
                w *= 2
            parts.append(f"{register_name(name, w)}={value & ((1 << w) - 1):0{w // 4}x}")
        else:
            parts.append(f"{name}={value:0{16 if value >> 32 else 8}x}")
    return " ".join(parts)


def names(indices: list[int], width: int) -> str:
    """The changed registers' names alone (for a report)."""
    return " ".join(register_name(SNAPSHOT_NAMES[i], width) if i <= RFLAGS
                    else SNAPSHOT_NAMES[i] for i in indices)

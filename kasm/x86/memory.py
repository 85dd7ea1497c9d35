"""Memory operands as GNU encodes them where keystone differs: address sizes, default
segments, 64-bit absolute addresses, and constant displacements."""

from __future__ import annotations

from ..diagnostics import AsmError
from ..instruction import REGISTER_WIDTH, Instruction, Operand
from .numbers import MASK, gnu_narrow

_STACK_BASES = ("%bp", "%ebp", "%esp", "%rbp", "%rsp")


def address_bits(op: Operand, bits: int, pre: bytes) -> int:
    """The address size of memory operand `op`: its registers', else the mode's (an explicit
    addr16/addr32, an 0x67 in `pre`, switches an absolute address to the other size)."""
    regs = [r for r in (op.base, op.index) if r]
    if regs:
        if regs[0] in ("%rip", "%eip"):
            return 64 if regs[0] == "%rip" else 32
        return REGISTER_WIDTH.get(regs[-1], bits)
    if 0x67 not in pre:
        return bits
    return 32 if bits != 32 else 16


def without_default_segment(op: Operand) -> Operand:
    """The operand minus a segment override that names its default segment.

    GNU emits no prefix for `%ss:(%bp)` or `%ds:(%bx)`: SS is the default with a bp/sp base,
    DS otherwise (keystone writes the redundant prefix).
    """
    if op.kind != "mem" or op.segment not in ("%ds", "%ss"):
        return op
    default = "%ss" if op.base in _STACK_BASES else "%ds"
    return op.replace(segment="") if op.segment == default else op


def rip_to_absolute(code: bytes, disp_at: int) -> bytes:
    """Turn keystone's `disp32(%rip)` encoding into GNU's 64-bit absolute `disp32` (SIB 0x25).

    ModRM mod=00 rm=101 is rip-relative in 64-bit mode; GNU writes rm=100 with a SIB byte of
    no base and no index, so the displacement is an address, not an offset from rip.
    """
    modrm = code[disp_at - 1]
    if modrm & 0xC7 != 0x05:
        raise AssertionError(f"expected a rip-relative ModRM before offset {disp_at}: {code.hex()}")
    return code[:disp_at - 1] + bytes([(modrm & 0x38) | 0x04, 0x25]) + code[disp_at:]


def gnu_memory_operands(insn: Instruction, pre: bytes, bits: int
                        ) -> tuple[Instruction, bytes, tuple[Operand, ...], set[int]]:
    """The memory operands as keystone must see them to give GNU's encoding: returns the
    instruction to render, the prefixes, the operands as written (but for the first two
    rewrites) and which operands are 64-bit absolute addresses."""
    ops = insn.operands
    if bits == 16 and any(op.kind == "mem" and op.disp is None and op.index and not op.base
                          for op in ops):
        # `(,%eax,4)` has a disp32 of zero (which keystone needs spelled out; see below)
        ops = tuple(op.replace(disp=("num", 0)) if op.kind == "mem" and op.disp is None
                    and op.index and not op.base else op for op in ops)
    if insn.mnemonic.rstrip("bwl") in ("in", "out", "ins", "outs") and any(
            _is_port(op) for op in ops):
        # GNU takes `(%dx)` for the port register %dx; keystone only `%dx`
        ops = tuple(Operand("reg", op.text, reg="%dx") if _is_port(op) and not op.segment
                    else op for op in ops)
    original = ops
    # 64-bit absolute addresses: keystone makes them rip-relative; GNU uses a SIB disp32
    absolute64 = {i for i, op in enumerate(ops) if bits == 64 and op.kind == "mem"
                  and not op.uses_registers and op.disp is not None}
    if absolute64:
        ops = tuple(op.replace(base="%rip") if i in absolute64 else op
                    for i, op in enumerate(ops))
    if any(op.segment for op in ops):
        ops = tuple(without_default_segment(op) for op in ops)
        if any(op.segment == "%ds" for op in ops):  # keystone drops every %ds: override
            ops = tuple(op.replace(segment="") if op.segment == "%ds" else op for op in ops)
            pre += b"\x3e"
    return insn.replace(operands=ops), pre, original, absolute64


def _is_port(op: Operand) -> bool:
    return op.kind == "mem" and op.disp is None and op.base == "%dx" and not op.index


def displacement_value(value: int, op: Operand, pre: bytes, insn: Instruction, bits: int,
                       warnings: list[str]) -> tuple[int, bool]:
    """A constant displacement or address as GNU encodes it: cut to the address size,
    and whether it must go in at full width (see gnu_narrow). Keystone garbles a value
    wider than its field (`incl 0x123456789` → `ff 05`, no displacement at all)."""
    width = address_bits(op, bits, pre)
    absolute = not op.uses_registers
    if width == 64:
        if not -(1 << 31) <= value < (1 << 31):
            raise AsmError(f"0x{value & MASK:x} is out of range of a signed 32-bit "
                           "displacement", insn.loc)
        return value, False
    if absolute and width == 16 and bits == 32:
        # keystone ignores addr16 on an absolute address (it writes a disp32)
        raise AsmError("an absolute address with addr16 in 32-bit code is not supported",
                       insn.loc)
    short, full = gnu_narrow(value, width, bits, immediate=False)
    if not -(1 << width) < value < (1 << width) and not (
            bits != 64 and -(1 << 31) <= value < (1 << 32)):
        warnings.append(f"0x{value & MASK:x} shortened to 0x{short & ((1 << width) - 1):x}")
    if bits == 16 and width == 32 and not op.base:
        # keystone writes a 32-bit address without a base, `(,%eax,4)` or `addr32 0x10`,
        # as a 16-bit one (unless the value needs 32 bits)
        full = True
    if absolute and width == 16:
        short &= 0xFFFF
    return short, full

"""Instructions that carry an absolute address or selector where keystone cannot write it:
far jumps and calls (`ljmp $seg, $offset`) and the moffs moves of the accumulator."""

from __future__ import annotations

from .. import expr
from ..diagnostics import AsmError
from ..instruction import ACCUMULATORS, Instruction
from .encoding import Constants, Encoding, Field
from .memory import without_default_segment
from .prefixes import SEGMENT_BYTES, merge_prefixes

FAR_MNEMONICS = ("ljmp", "lcall", "ljmpw", "ljmpl", "lcallw", "lcalll")
_MOVES = ("mov", "movb", "movw", "movl", "movq", "movabs", "movabsb", "movabsw", "movabsl",
          "movabsq")


def is_direct_far(insn: Instruction) -> bool:
    """ljmp/lcall, or jmp/call with two operands: a far branch written as `$segment,
    $offset` (or wrongly), not the indirect `*address` that keystone encodes."""
    if insn.mnemonic in FAR_MNEMONICS or insn.mnemonic in ("jmp", "call") and \
            len(insn.operands) == 2:
        return not (len(insn.operands) == 1 and insn.operands[0].star)
    return False


def encode_far(insn: Instruction, bits: int, pre: bytes, constants: Constants,
               warnings: list[str]) -> Encoding:
    """`ljmp $seg, $offset`: keystone can't; GNU writes ea/9a, the offset, the selector."""
    ops = insn.operands
    if len(ops) != 2 or any(o.kind != "imm" for o in ops):
        raise AsmError(f"'{insn.mnemonic}' takes '$segment, $offset' or '*address'", insn.loc)
    if bits == 64:
        raise AsmError(f"far '{insn.mnemonic} $seg, $offset' is invalid in 64-bit mode",
                       insn.loc)
    # the operand size comes from a suffix after the base name (the l of lcall is not one)
    base = next(b for b in ("ljmp", "lcall", "jmp", "call") if insn.mnemonic.startswith(b))
    width = {"w": 16, "l": 32}.get(insn.mnemonic[len(base):], bits)
    data = bytearray(pre)
    if width != bits:
        data.append(0x66)
    data.append(0xEA if "jmp" in base else 0x9A)
    fields: list[Field] = []
    _value(data, fields, insn, 1, width // 8, constants, warnings)
    _value(data, fields, insn, 0, 2, constants, warnings)
    return Encoding(bytes(data), tuple(fields))


def encode_moffs(insn: Instruction, bits: int, pre: bytes, constants: Constants,
                 warnings: list[str]) -> Encoding | None:
    """The a0-a3 moves between the accumulator and an absolute address where keystone
    cannot write them: `movabs addr, %acc` (a 64-bit address, which keystone rejects),
    GNU's choice for `mov` of an address beyond a sign-extended disp32 in 64-bit code,
    and `addr32 mov addr, %acc` in 16-bit code (keystone writes a 16-bit address after
    the 0x67). None for every other move."""
    ops = insn.operands
    if len(ops) != 2 or insn.mnemonic not in _MOVES:
        return None
    load = ops[0].kind == "mem" and ops[1].kind == "reg"
    m, (mem, reg) = (0, (ops[0], ops[1])) if load else (1, (ops[1], ops[0]))
    if mem.kind != "mem" or reg.kind != "reg" or mem.uses_registers or mem.disp is None:
        return None
    movabs = insn.mnemonic.startswith("movabs")
    if bits == 64:
        address = constants.value(mem.disp, insn.loc)
        width = 8
        if not movabs and (0x67 in pre or address is None
                           or -(1 << 31) <= address < (1 << 31)):
            return None
    elif bits == 16 and 0x67 in pre and not movabs:
        width = 4
    else:
        return None
    size = ACCUMULATORS.get(reg.reg)
    if size is None:
        if not movabs:
            return None
        raise AsmError(f"'{insn.mnemonic}' with an address moves through %al, %ax, %eax or "
                       "%rax only", insn.loc)
    if size == 64 and bits != 64:
        return None
    prefix = b"\x48" if size == 64 else b"\x66" if size != 8 and (size == 16) != (
        bits == 16) else b""
    opcode = (0xA0 if load else 0xA2) + (size != 8)
    segment = without_default_segment(mem).segment
    segment_byte = bytes([SEGMENT_BYTES[segment]]) if segment else b""
    data = bytearray(merge_prefixes(pre, segment_byte + prefix + bytes([opcode])))
    fields: list[Field] = []
    _value(data, fields, insn, m, width, constants, warnings)
    return Encoding(bytes(data), tuple(fields))


def _value(data: bytearray, fields: list[Field], insn: Instruction, operand: int, width: int,
           constants: Constants, warnings: list[str]) -> None:
    """Operand `operand`'s value appended in `width` bytes: now if it is a constant, else a
    field that the linker fills."""
    node = insn.operands[operand].disp
    assert node is not None
    value = constants.value(node, insn.loc)
    if value is None:
        fields.append(Field(len(data), width, operand))
        data += bytes(width)
    else:
        data += expr.field_bytes(value, width, None, warnings)

"""Instructions whose GNU encoding keystone does not give, written by kasm from a rule.

Each was found writing other bytes than GNU as 2.40 (or refused where GNU accepts it):
operand-less instructions with a mandatory prefix (PadLock's f3, the FWAIT of `fsetpm`),
names keystone does not know (`endbr64`, `retf`, `fdisi`), `fwait` after a prefix (its 9b is
the instruction, not the WAIT prefix that sorts first), and NOP with an operand (`nopl
0x0(%rax)`, GCC's padding: keystone writes the `0f 18` prefetch hint instead of `0f 1f`).
"""

from __future__ import annotations

from ..diagnostics import AsmError
from ..instruction import REGISTER_WIDTH, Instruction, Operand
from .encoding import Encoding
from .prefixes import merge_prefixes

# operand-less instructions: GNU's bytes in every mode
FIXED = {
    "xcryptecb": "f30fa7c8", "xcryptcbc": "f30fa7d0", "xcryptctr": "f30fa7d8",
    "xcryptcfb": "f30fa7e0", "xcryptofb": "f30fa7e8", "xsha1": "f30fa6c8",
    "xsha256": "f30fa6d0", "montmul": "f30fa6c0",
    "fsetpm": "9bdbe4", "fnsetpm": "dbe4", "fdisi": "9bdbe1", "fndisi": "dbe1",
    "feni": "9bdbe0", "fneni": "dbe0",
    "endbr64": "f30f1efa", "endbr32": "f30f1efb", "fwait": "9b", "wait": "9b",
}
_FIXED_BYTES = {name: bytes.fromhex(code) for name, code in FIXED.items()}
NOPS = ("nop", "nopw", "nopl", "nopq")
RENAMED = {"retf": "lret"}  # GNU's other names for what keystone knows
_SIZES = {"w": 16, "l": 32, "q": 64}
_ACCUMULATOR = {16: "%ax", 32: "%eax", 64: "%rax"}


def encode_fixed(insn: Instruction, pre: bytes) -> Encoding | None:
    """An operand-less instruction of the FIXED table with its prefixes, else None. The 9b
    of fwait stays after the prefixes written before it (`es fwait` is 26 9b)."""
    code = _FIXED_BYTES.get(insn.mnemonic)
    if code is None or insn.operands:
        return None
    if code == b"\x9b":
        return Encoding(merge_prefixes(pre, b"") + code)
    return Encoding(merge_prefixes(pre, code))


def nop_as_test(insn: Instruction, bits: int) -> Instruction | None:
    """`nop OPERAND` (0f 1f /0) as the `test %acc, OPERAND` (85 /r, reg 0) that has the same
    prefixes, ModRM, SIB and displacement; the caller swaps the opcode (with_nop_opcode).
    None for a plain `nop`. Raises GNU's errors for the operands GNU refuses."""
    if insn.mnemonic not in NOPS or not insn.operands and insn.mnemonic == "nop":
        return None
    ops = insn.operands
    if len(ops) != 1:
        raise AsmError(f"number of operands mismatch for '{insn.mnemonic}'", insn.loc)
    op = ops[0]
    width = _SIZES.get(insn.mnemonic[3:])
    if op.kind == "reg":
        reg_width = REGISTER_WIDTH.get(op.reg)
        if reg_width not in (16, 32, 64) or op.reg in ("%eip", "%rip") or op.star:
            raise AsmError(f"operand size mismatch for '{insn.mnemonic}'", insn.loc)
        if width is not None and width != reg_width:
            raise AsmError(f"invalid instruction suffix for '{insn.mnemonic}'", insn.loc)
        width = reg_width
    elif op.kind != "mem" or op.star:
        raise AsmError(f"operand size mismatch for '{insn.mnemonic}'", insn.loc)
    if width is None:
        width = 16 if bits == 16 else 32
    if width == 64 and bits != 64:
        raise AsmError(f"'{insn.mnemonic}' is only supported in 64-bit mode", insn.loc)
    accumulator = Operand("reg", _ACCUMULATOR[width], reg=_ACCUMULATOR[width])
    return insn.replace(mnemonic="test" + "wlq"[(16, 32, 64).index(width)],
                        operands=(accumulator, op))


def with_nop_opcode(encoding: Encoding, bits: int) -> Encoding:
    """The encoding of `test %acc, OPERAND` turned into that of `nop OPERAND` (whose fields
    name operand 0, the test's 1)."""
    data = encoding.data
    at = 0
    while data[at] in (0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3):
        at += 1
    if bits == 64 and data[at] & 0xF0 == 0x40:
        at += 1
    if data[at] != 0x85 or (data[at + 1] >> 3) & 7:
        raise AssertionError(f"not a test with the accumulator: {data.hex()}")
    fields = tuple(f.replace(offset=f.offset + (f.offset > at), operand=0)
                   for f in encoding.fields)
    return encoding.replace(data=data[:at] + b"\x0f\x1f" + data[at + 1:], fields=fields)

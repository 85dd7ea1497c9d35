"""GNU's pseudo-prefixes (`{load}`, `{vex3}`, ...) and pseudo index registers (%eiz, %riz):
what keystone does not know, applied to its bytes or refused by name."""

from __future__ import annotations

from collections.abc import Callable

from ..diagnostics import AsmError
from ..instruction import PSEUDO_PREFIXES, Instruction
from .encoding import Encoding
from .evex import evex_at

_UNSUPPORTED = ("{disp8}", "{disp16}", "{disp32}", "{rex}")
_LEGACY = frozenset((0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3))
# {load}: the reg-reg forms with a load twin (opcode | 2, ModRM's reg and rm swapped)
_LOAD_TWINS = frozenset((0x00, 0x01, 0x08, 0x09, 0x10, 0x11, 0x18, 0x19, 0x20, 0x21, 0x28,
                         0x29, 0x30, 0x31, 0x38, 0x39, 0x88, 0x89))
_SWAP_ONLY = frozenset((0x84, 0x85))  # test: one opcode; GNU swaps its registers all the same
PSEUDO_INDEX = {"%eiz": "%eax", "%riz": "%rax"}
_OTHER_INDEX = {"%eiz": "%ecx", "%riz": "%rcx"}


def split_pseudo(insn: Instruction) -> tuple[Instruction, tuple[str, ...]]:
    """The instruction without its pseudo-prefixes, and them (refused by name where kasm
    cannot do what GNU does with them)."""
    pseudo = tuple(p for p in insn.prefixes if p in PSEUDO_PREFIXES)
    if not pseudo:
        return insn, ()
    for p in pseudo:
        if p in _UNSUPPORTED:
            raise AsmError(f"the pseudo-prefix '{p}' is not supported", insn.loc)
    return insn.replace(prefixes=tuple(p for p in insn.prefixes if p not in pseudo)), pseudo


def apply_pseudo(encoding: Encoding, pseudo: tuple[str, ...], insn: Instruction, bits: int
                 ) -> Encoding:
    """GNU's bytes for the pseudo-prefixes written: {load} picks the load form of a reg-reg
    ALU/mov/test, {vex3} the 3-byte VEX; {vex}/{evex} must be what was chosen anyway."""
    data = encoding.data
    at = 0
    while at < len(data) and data[at] in _LEGACY:
        at += 1
    if bits == 64 and at < len(data) and data[at] & 0xF0 == 0x40:
        at += 1
    for p in pseudo:
        evex = evex_at(data, bits) is not None
        if p == "{load}" and all(op.kind == "reg" for op in insn.operands) and \
                len(data) == at + 2 and data[at + 1] >> 6 == 3:
            op, modrm = data[at], data[at + 1]
            if op in _LOAD_TWINS or op in _SWAP_ONLY:
                swapped = 0xC0 | (modrm & 7) << 3 | (modrm >> 3) & 7
                data = data[:at] + bytes([op | (2 if op in _LOAD_TWINS else 0), swapped])
                if bits == 64 and at and data[at - 1] & 0xF0 == 0x40:  # REX.R and REX.B swap
                    rex = data[at - 1]
                    data = data[:at - 1] + bytes([rex & 0xFA | (rex & 1) << 2 | (rex >> 2) & 1]) \
                        + data[at:]
        elif p in ("{vex}", "{vex2}") and evex:
            raise AsmError(f"'{insn.mnemonic}' has no VEX form for '{p}'", insn.loc)
        elif p == "{vex3}" and data[at:at + 1] == b"\xc5":
            vex = data[at + 1]
            data = data[:at] + bytes([0xC4, (vex & 0x80) | 0x61, vex & 0x7F]) + data[at + 2:]
            encoding = encoding.replace(fields=tuple(
                f.replace(offset=f.offset + 1) for f in encoding.fields))
        elif p == "{evex}" and not evex:
            raise AsmError(f"'{{evex}}' on '{insn.mnemonic}' is not supported (kasm writes "
                           "EVEX only where keystone does)", insn.loc)
    return encoding.replace(data=data)


def uses_pseudo_index(insn: Instruction) -> bool:
    return any(op.index in PSEUDO_INDEX for op in insn.operands if op.kind == "mem")


def with_pseudo_index(insn: Instruction, encode: Callable[[Instruction], Encoding]) -> Encoding:
    """`(%esi,%eiz,1)`: a SIB byte whose index says none (100). Encoded with a real index in
    its place twice (%eax, %ecx): the one byte that differs is the SIB, its index set to 100."""
    def replaced(names: dict[str, str]) -> Instruction:
        return insn.replace(operands=tuple(
            op.replace(index=names[op.index]) if op.kind == "mem" and op.index in names else op
            for op in insn.operands))

    first, second = encode(replaced(PSEUDO_INDEX)), encode(replaced(_OTHER_INDEX))
    diff = [i for i, (a, b) in enumerate(zip(first.data, second.data, strict=False)) if a != b]
    if len(first.data) != len(second.data) or len(diff) != 1 or \
            first.data[diff[0]] ^ second.data[diff[0]] != 0x08:
        raise AsmError(f"kasm cannot encode '{insn.mnemonic}' with %eiz/%riz exactly as GNU as "
                       "does; not supported", insn.loc)
    at = diff[0]
    data = first.data[:at] + bytes([first.data[at] & 0xC7 | 0x20]) + first.data[at + 1:]
    return first.replace(data=data)

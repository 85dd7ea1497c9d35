"""The check of every new encoding keystone makes: capstone decodes it, and the registers,
displacements and immediates it finds must be the ones the source wrote.

The table of verified forms (forms.py) says that kasm's bytes agreed with GNU's for several
values of an instruction's shape; this catches what depends on the value itself (a register
keystone swaps, a displacement it cuts, an immediate it shortens). Registers are compared
one way (capstone also shows implicit operands: `movsb` decodes as `(%esi), %es:(%edi)`).
"""

from __future__ import annotations

import re

from ..diagnostics import AsmError
from ..instruction import PREFIXES, REGISTER_WIDTH, Instruction
from .disassembler import Disassembler
from .encoding import Constants, Encoding
from .numbers import SHIFTS, base_mnemonic, operand_width

_REGISTER = re.compile(r"%[a-z0-9]+(?:\(\d\))?")
_NUMBER = r"-?(?:0x[0-9a-f]+|\d+)"
_IMMEDIATE = re.compile(r"\$(" + _NUMBER + ")")
_DISPLACEMENT = re.compile(r"(?:^|[\s,:*])(" + _NUMBER + r")(?=\(|\s*(?:,|$))")
_SAME = {"%st": "%st(0)"}
# a general register by its number: GNU sizes segment moves and data16/data32 moves by
# prefix, which capstone shows as another width of the same register (the widths of a form
# are the table's to verify)
for _names in ("al ax eax rax", "cl cx ecx rcx", "dl dx edx rdx", "bl bx ebx rbx",
               "spl sp esp rsp", "bpl bp ebp rbp", "sil si esi rsi", "dil di edi rdi"):
    _SAME.update({f"%{n}": f"%{_names.split()[-1]}" for n in _names.split()})
for _i in range(8, 16):
    _SAME.update({f"%r{_i}{s}": f"%r{_i}" for s in ("b", "l", "w", "d")})


def refusal(insn: Instruction, why: str = "") -> AsmError:
    """The error for an instruction kasm cannot write as GNU does."""
    text = " ".join((*insn.prefixes, insn.mnemonic)).strip()
    if insn.operands:
        text += " " + ", ".join(op.text.strip() for op in insn.operands)
    return AsmError(f"kasm cannot encode '{text}' exactly as GNU as does; not supported"
                    + (f" ({why})" if why else ""), insn.loc)


def check_decoding(insn: Instruction, encoding: Encoding, bits: int, constants: Constants,
                   disasm: Disassembler) -> None:
    """Raise refusal() unless capstone reads `encoding` as the operands of `insn`."""
    if not insn.mnemonic or insn.mnemonic in PREFIXES or encoding.data[-1:] == b"\x90":
        return  # a lone prefix; `xchg %rax, %rax` is nop
    decoded = disasm.decode(encoding.data, bits)
    if decoded is None or decoded[2] != len(encoding.data):
        raise refusal(insn, "the disassembler reads other bytes")
    text = decoded[1]
    found_regs = {_SAME.get(r, r) for r in _REGISTER.findall(text)}
    for op in insn.operands:
        for reg in (op.reg, op.base, op.index):
            if reg and reg not in ("%rip", "%eip", "%eiz", "%riz") and \
                    _SAME.get(reg, reg) not in found_regs:
                raise refusal(insn, f"{reg} would not be encoded")
    fielded = {f.operand for f in encoding.fields}
    found_imms = [int(n, 0) for n in _IMMEDIATE.findall(text)]
    found_disps = [int(n, 0) for n in _DISPLACEMENT.findall(_IMMEDIATE.sub("", text))]
    width = operand_width(insn, bits) or bits
    for i, op in enumerate(insn.operands):
        if op.disp is None or i in fielded or op.rip_relative:
            continue
        value = constants.value(op.disp, insn.loc)
        if value is None:
            continue
        if op.kind == "imm":
            mask = (1 << width) - 1
            implicit = value & mask == 1 and base_mnemonic(insn.mnemonic) in SHIFTS or \
                value & mask == 3 and insn.mnemonic == "int"  # d1 /n, int3: no imm byte
            # an imm8 that capstone shows unsigned (shld's count, pshufd's order)
            byte = -128 <= value <= 0xFF
            if not implicit and not any((v - value) & mask == 0 or byte and 0 <= v <= 0xFF and
                                        (v - value) & 0xFF == 0 for v in found_imms):
                raise refusal(insn, f"the immediate {value} would not be encoded")
        else:
            regs = [r for r in (op.base, op.index) if r]
            mask = (1 << REGISTER_WIDTH.get(regs[-1], bits) if regs else 1 << bits) - 1
            if value & mask and not any((v - value) & mask == 0 for v in found_disps):
                raise refusal(insn, f"the displacement {value} would not be encoded")

"""x86 instruction → bytes and fields, exactly as GNU as 2.40 encodes it, or a located error.

The one entry point: `Encoder().encode(instruction, mode_bits, constants)`. What kasm encodes
itself, it encodes here: relative branches (branches.py), far jumps and moffs moves
(absolute.py), string instructions with operands (strings.py), the rules of special.py and
pseudo.py; everything else goes through keystone with GNU's repairs (via_keystone.py,
evex.py), and is written only if capstone reads the source's operands in the bytes
(crosscheck.py) and its form was verified against GNU (forms.py): else it is refused. GNU's
refusals that keystone lacks are in checks.py; the memo of encodings and the immediate
templates in memo.py.
"""

from __future__ import annotations

from ..diagnostics import AsmError
from ..instruction import Instruction
from .absolute import encode_far, encode_moffs, is_direct_far
from .branches import encode_branch, is_relative_branch
from .checks import check_instruction, check_size_prefixes
from .crosscheck import check_decoding, refusal
from .disassembler import Disassembler
from .encoding import NO_SYMBOLS, Constants, Encoding, EncodingError
from .forms import VerifiedForms, form_of, other_forms_of
from .keystone import Keystone
from .memo import EncodingMemo
from .prefixes import merge_prefixes, prefix_bytes
from .pseudo import apply_pseudo, split_pseudo, uses_pseudo_index, with_pseudo_index
from .special import RENAMED, encode_fixed, nop_as_test, with_nop_opcode
from .strings import INTEL_NAMES, assume_att_name, encode_string_instruction
from .via_keystone import encode_via_keystone


class Encoder:
    """Encodes instructions; one per build, so that its memo serves the whole program."""

    def __init__(self, keystone: Keystone | None = None,
                 forms: VerifiedForms | None = None) -> None:
        self.keystone = keystone or Keystone()
        self.forms = VerifiedForms() if forms is None else forms  # what keystone may encode
        self.disassembler = Disassembler()
        self.memo = EncodingMemo()

    def encode(self, insn: Instruction, bits: int, constants: Constants = NO_SYMBOLS
               ) -> Encoding:
        """The encoding of `insn` in `bits`-bit code; raises EncodingError (an AsmError)."""
        known = self.memo.recall(insn, bits)
        if known is not None:
            return known
        encoding = self.encode_afresh(insn, bits, constants)
        self.memo.remember(insn, bits, encoding, lambda other: self.encode_afresh(other, bits))
        return encoding

    def encode_afresh(self, insn: Instruction, bits: int, constants: Constants = NO_SYMBOLS
                      ) -> Encoding:
        """The encoding of `insn`, without the memo."""
        warnings: list[str] = []
        try:
            encoding = self._encode(insn, bits, constants, warnings)
        except AsmError as e:
            raise EncodingError(e.message, e.loc, tuple(warnings)) from None
        if warnings:
            encoding = encoding.replace(warnings=encoding.warnings + tuple(warnings))
        return encoding

    def _encode(self, insn: Instruction, bits: int, constants: Constants, warnings: list[str]
                ) -> Encoding:
        insn, pseudo = split_pseudo(insn)
        if insn.prefixes:
            check_size_prefixes(insn, bits)
        pre = prefix_bytes(insn.prefixes, bits) if insn.prefixes else b""
        if not insn.mnemonic:
            return Encoding(pre)
        check_instruction(insn, bits)
        fixed = encode_fixed(insn, pre)
        if fixed is not None:
            return fixed
        if insn.mnemonic in RENAMED:
            insn = insn.replace(mnemonic=RENAMED[insn.mnemonic])
        if is_relative_branch(insn):
            return encode_branch(insn, bits, pre)
        if is_direct_far(insn):
            return encode_far(insn, bits, pre, constants, warnings)
        if not insn.operands and insn.mnemonic in INTEL_NAMES:
            insn = assume_att_name(insn, warnings)
        string = encode_string_instruction(insn, bits, warnings)
        if string is not None:
            return Encoding(merge_prefixes(pre, string))
        if insn.mnemonic.startswith("mov"):
            moffs = encode_moffs(insn, bits, pre, constants, warnings)
            if moffs is not None:
                return moffs
        return self._through_keystone(insn, bits, pre, constants, warnings, pseudo)

    def _through_keystone(self, insn: Instruction, bits: int, pre: bytes, constants: Constants,
                          warnings: list[str], pseudo: tuple[str, ...]) -> Encoding:
        """Keystone's encoding, repaired, then checked: capstone must read the source's
        operands in it, and its form must be one verified against GNU (forms.py)."""
        def via_keystone(insn: Instruction) -> Encoding:
            return encode_via_keystone(insn, bits, pre, constants, self.keystone, warnings,
                                       self.disassembler)

        test = nop_as_test(insn, bits)
        if test is not None:
            encoding = with_nop_opcode(via_keystone(test), bits)
        elif uses_pseudo_index(insn):
            encoding = with_pseudo_index(insn, via_keystone)
        else:
            encoding = via_keystone(insn)
        if pseudo:
            encoding = apply_pseudo(encoding, pseudo, insn, bits)
        check_decoding(insn, encoding, bits, constants, self.disassembler)
        if form_of(insn, bits, constants) not in self.forms and not any(
                form in self.forms for form in other_forms_of(insn, bits, constants)):
            raise refusal(insn)
        return encoding


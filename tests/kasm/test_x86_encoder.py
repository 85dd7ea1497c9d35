"""The x86 encoder on its own: an Instruction and a mode in, bytes and fields out.

No streamer, no symbol table: `Constants` answers whether an operand's expression is a number
now. Byte-for-byte agreement with GNU as is checked on whole programs elsewhere
(test_gnu_fidelity, test_fidelity_fuzz, test_keystone_departures); here, the shape of what
the encoder hands back.
"""

from __future__ import annotations

import pytest

from kasm.att_syntax import parse_instruction
from kasm.diagnostics import Location
from kasm.x86 import NO_SYMBOLS, Constants, Encoder, EncodingError, Field

LOC = Location("t.s", 1)


def encode(text: str, bits: int, constants: Constants = NO_SYMBOLS):  # noqa: ANN201
    return Encoder().encode(parse_instruction(text, LOC), bits, constants)


def test_plain_instruction_is_bytes_only() -> None:
    e = encode("movl $0x12345678, %eax", 32)
    assert (e.data, e.fields, e.warnings, e.branch) == (bytes.fromhex("b878563412"), (), (),
                                                        None)


def test_label_operand_is_a_field_naming_the_operand() -> None:
    e = encode("movw label, %ax", 16)
    assert e.data == bytes.fromhex("a10000")
    assert e.fields == (Field(1, 2, 0),)  # operand 0's value, two bytes at offset 1


def test_rip_relative_label_is_pc_relative_and_signed() -> None:
    e = encode("movl label(%rip), %eax", 64)
    assert e.data == bytes.fromhex("8b0500000000")
    assert e.fields == (Field(2, 4, 0, pcrel=True, signed=True),)


def test_constants_decide_whether_a_symbol_is_a_field() -> None:
    five = Constants(lambda node, loc: 5 if node == ("sym", "FIVE", 0) else None)
    assert encode("movb $FIVE, %al", 16, five).data == bytes.fromhex("b005")
    assert encode("movb $FIVE, %al", 16).fields == (Field(1, 1, 0),)


def test_jmp_and_jcc_are_left_to_layout() -> None:
    e = encode("jne target", 32)
    assert e.data == b"" and e.fields == ()
    assert (e.branch.short, e.branch.long, e.branch.long_width) == (b"\x75", b"\x0f\x85", 4)


def test_call_is_a_pc_relative_field() -> None:
    e = encode("call target", 16)
    assert e.data == bytes.fromhex("e80000") and e.branch is None
    assert e.fields == (Field(1, 2, 0, pcrel=True),)


def test_warnings_come_with_the_encoding() -> None:
    e = encode("movb $0x1ff, %al", 16)
    assert e.data == bytes.fromhex("b0ff")
    assert e.warnings == ("value 0x1ff truncated to 0xff",)


def test_refusal_is_an_error_located_at_the_instruction() -> None:
    with pytest.raises(EncodingError) as e:
        encode("incq (%eax)", 32)
    assert e.value.message == "'incq' is only supported in 64-bit mode"
    assert e.value.loc == LOC


def test_memo_gives_the_same_encoding_again() -> None:
    encoder = Encoder()
    insn = parse_instruction("addl %eax, %edx", LOC)
    assert encoder.encode(insn, 32) is encoder.encode(insn, 32)
    assert encoder.encode(insn, 16).data == bytes.fromhex("6601c2")

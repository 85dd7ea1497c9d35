"""Immediate templates give the bytes kasm would make without them.

kasm/x86/memo.py: a template made from the encodings of two values of a class fills in any
other value of that class without encoding the instruction again. Here one encoder with
templates encodes many values of many instruction shapes, in every mode, and each result is
compared with a fresh encoding of the same instruction (the values straddle every bit length,
sign and sign-extended-imm8 boundary, in an order that makes templates from the first ones
met). Then whole programs of such statements are built with and without templates.
"""

from __future__ import annotations

import random

import pytest

from kasm.att_syntax import parse_instruction
from kasm.build import build_source
from kasm.diagnostics import AsmError, Location
from kasm.x86 import NO_SYMBOLS, Encoder, memo
from kasm.x86.memo import value_class

SHAPES = {
    16: ["addw $V, %bx", "addl $V, %ebx", "add $V, %ax", "pushw $V", "push $V", "pushl $V",
         "movw $V, %si", "movl $V, %eax", "imul $V, %bx, %cx", "cmpb $V, %al", "andw $V, (%bx)",
         "ret $V", "lret $V", "testw $V, %dx", "sub $V, %sp", "orl $V, (%bx,%si)"],
    32: ["addl $V, %ebx", "addw $V, %bx", "andl $V, %eax", "push $V", "pushw $V",
         "movl $V, %ecx", "movl $V, (%ebx)", "imul $V, %eax, %edx", "cmpl $V, %esp",
         "xorl $V, (%esi,%edi,4)", "testl $V, %eax", "retw $V", "sbbl $V, %edi", "adcw $V, %ax"],
    64: ["addq $V, %rbx", "addl $V, %r9d", "movq $V, %rax", "movabs $V, %rax",
         "movabsq $V, %r12", "push $V", "pushq $V", "imul $V, %rax, %r8", "andq $V, (%rbx)",
         "cmpq $V, %rsp", "movl $V, %r15d", "orw $V, %r10w", "testq $V, %rdi", "xorq $V, %rax"],
}


def _hex(v: int) -> str:
    return f"-0x{-v:x}" if v < 0 else f"0x{v:x}"


def _values(rng: random.Random) -> list[int]:
    values = set()
    for k in range(8, 65):
        for edge in (1 << k, -(1 << k)):
            values.update({edge - 1, edge, edge + 1, edge - 0x80, edge + 0x7F})
    for top in ((1 << 16), (1 << 32), (1 << 64)):  # the imm8s written as 16/32/64-bit numbers
        values.update({top - 0x80, top - 0x7F, top - 1, top - 0x81, top - 0x100})
    for _ in range(300):
        k = rng.randrange(9, 65)
        values.add(rng.choice((1, -1)) * rng.randrange(1 << (k - 1), 1 << k))
    out = sorted(values)
    rng.shuffle(out)
    return out


def _result(encode, bits: int, text: str) -> tuple | str:  # noqa: ANN001
    insn = parse_instruction(text, Location("t.s", 1))
    try:
        encoding = encode(insn, bits)
    except AsmError as e:
        return "error: " + e.message
    return encoding.data, encoding.fields, encoding.warnings


@pytest.mark.parametrize("bits", [16, 32, 64])
def test_templates_give_the_bytes_of_a_fresh_encoding(bits: int) -> None:
    rng = random.Random(bits)
    values = _values(rng)
    plain = Encoder()
    hits = 0
    for shape in SHAPES[bits]:
        templated = Encoder()  # one per shape: its first values of a class make the template
        calls = 0
        afresh = templated.encode_afresh

        def counted(insn, bits, constants=NO_SYMBOLS, afresh=afresh):  # noqa: ANN001, ANN202
            nonlocal calls
            calls += 1
            return afresh(insn, bits, constants)

        templated.encode_afresh = counted  # type: ignore[method-assign]
        for v in values:
            text = shape.replace("V", _hex(v))
            insn = parse_instruction(text, Location("t.s", 1))
            before = calls
            cached = templated.memo.key(insn, bits) in templated.memo._encodings
            assert _result(templated.encode, bits, text) == \
                _result(plain.encode_afresh, bits, text), text
            hits += calls == before and not cached
    assert hits > 80 * len(SHAPES[bits])  # templates made many of them


def test_small_values_are_not_templated() -> None:
    assert all(value_class(v) is None for v in range(-256, 257))
    assert value_class(257) is not None and value_class(0xFF80) != value_class(0xFF7F)


STATEMENTS = {
    16: ["addw $V, %bx", "addl $V, %ebx", "add $V, %ax", "pushw $V", "push $V", "pushl $V",
         "movw $V, %si", "movl $V, %eax", "imul $V, %bx, %cx", "ret $V", "lret $V",
         "testw $V, %dx", "sub $V, %sp", "and $V, %eax", "mov $V, %al", "rolw $V, %ax"],
    32: ["addl $V, %ebx", "addw $V, %bx", "andl $V, %eax", "push $V", "pushw $V",
         "movl $V, %ecx", "imul $V, %eax, %edx", "cmpl $V, %esp", "testl $V, %eax",
         "retw $V", "sbbl $V, %edi", "adcw $V, %ax", "xor $V, %esi", "mov $V, %bx",
         "ds addl $V, %eax", "int $V", "shll $V, %eax"],
    64: ["addq $V, %rbx", "addl $V, %r9d", "movq $V, %rax", "movabs $V, %rax",
         "movabsq $V, %r12", "push $V", "pushq $V", "imul $V, %rax, %r8", "cmpq $V, %rsp",
         "movl $V, %r15d", "orw $V, %r10w", "testq $V, %rdi", "mov $V, %rcx", "mov $V, %ecx",
         "and $V, %rax", "sub $V, %r11", "rorq $V, %rax"],
}


def _literal(v: int, rng: random.Random) -> str:
    return rng.choice((str(v), hex(v), hex(v).upper().replace("0X", "0x")))


@pytest.mark.parametrize("bits", [16, 32, 64])
def test_statement_templates_change_no_byte(bits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Templates against a build without them: the same image and the same warnings
    (values beyond a field warn and are cut)."""
    rng = random.Random(bits)
    values = [v for v in _values(rng) if 0 < v < 1 << 64]
    lines = [shape.replace("V", _literal(v, rng)) for v in values for shape in STATEMENTS[bits]
             # 64-bit code has no imm64 but in a move to a register
             if bits != 64 or v < 1 << 31 or shape.startswith("mov")]
    plain = Encoder()  # the lines kasm writes (a form it may not verify is refused, and
    kept = [ln for ln in lines  # refusing is no template's business)
            if not isinstance(_result(plain.encode_afresh, bits, ln), str)]
    assert len(kept) > len(lines) // 2
    lines = kept
    rng.shuffle(lines)
    source = "\n".join([f".code{bits}", *lines]) + "\n"

    def build() -> tuple[bytes, list[str]]:
        result = build_source(source)
        return result.image.flat(), [w.format() for w in result.warnings]

    with_templates = build()
    monkeypatch.setattr(memo, "value_class", lambda value: None)  # no value has a template
    assert build() == with_templates

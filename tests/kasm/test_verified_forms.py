"""The principle for what kasm hands keystone: a form verified against GNU as, bytes that
capstone reads as the source's operands, or a located refusal (kasm/x86/forms.py,
crosscheck.py; the table is built by tools/verify_forms.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kasm.att_syntax import parse_instruction
from kasm.diagnostics import Location
from kasm.x86 import NO_SYMBOLS, Encoder, EncodingError
from kasm.x86.forms import TABLE, VerifiedForms, form_of
from kasm.x86.keystone import Keystone


def insn(text: str):  # noqa: ANN201 - an Instruction
    return parse_instruction(text, Location("t.s", 3, 5, text))


@pytest.mark.parametrize(("bits", "text", "form"), [
    (32, "addl $5, %eax", "32||addl|$b,r32"),
    (32, "add $0x1234, %bx", "32||add|$w,r16"),
    (64, "mov %r8, 0x10(%rsp,%rax,4)", "64||mov|r64,m64"),
    (64, "vaddps 0x40(%rip), %zmm17, %zmm3", "64||vaddps|m64p,zv,z"),
    (16, "data32 movl 0x10, %eax", "16|data32|movl|ma,r32"),
    (32, "lock incl (%eax)", "32||incl|m32"),  # lock is kasm's to place, not keystone's
    (32, "jmp *%eax", "32||jmp|*r32"),
    (64, "lea 0(,%riz,1), %rax", "64||lea|m64z,r64"),
    (32, "fadd %st(3), %st", "32||fadd|st,st"),
    (64, "movb %ah, %sil", "64||movb|h8,x8"),
])
def test_a_form_is_the_shape_of_an_instruction_in_a_mode(bits: int, text: str, form: str) -> None:
    assert form_of(insn(text), bits, NO_SYMBOLS) == form


def test_an_immediate_in_two_size_classes_is_verified_under_either() -> None:
    # `retq $0`: 0 is in $b (not verified for retq: negative counts differ) and in $B
    assert form_of(insn("retq $0"), 64, NO_SYMBOLS) == "64||retq|$b"
    assert "64||retq|$b" not in VerifiedForms() and "64||retq|$B" in VerifiedForms()
    assert Encoder(Keystone()).encode(insn("retq $0"), 64, NO_SYMBOLS).data == b"\xc2\x00\x00"


def test_the_shipped_table_holds_the_forms_programs_use() -> None:
    forms = VerifiedForms()
    for form in ("32||mov|r32,r32", "16||mov|r16,r16", "64||mov|m64,r64", "32||add|$b,r32",
                 "64||vaddps|m64,x,x", "32||vaddsd|m32,x,x", "64||vmovaps|m64,z",
                 "32||fadd|st,st", "64||nopl|m64"):
        assert form in forms, form
    assert "32||mov|r64,r64" not in forms


def test_a_form_outside_the_table_is_refused_with_a_located_error(tmp_path: Path) -> None:
    table = tmp_path / "forms.txt"
    table.write_text("32||mov|r32,r32\n")
    encoder = Encoder(forms=VerifiedForms(str(table)))
    assert encoder.encode(insn("mov %eax, %ebx"), 32).data == bytes.fromhex("89c3")
    with pytest.raises(EncodingError) as caught:
        encoder.encode(insn("add %eax, %ebx"), 32)
    assert caught.value.message == ("kasm cannot encode 'add %eax, %ebx' exactly as GNU as "
                                    "does; not supported")
    assert (caught.value.loc.line, caught.value.loc.col) == (3, 5)


class _Wrong(Keystone):
    """A keystone that answers one text with the bytes of another instruction."""

    def __init__(self, wrong: dict[str, str]) -> None:
        super().__init__()
        self.wrong = wrong

    def encode(self, bits, text, insn):  # noqa: ANN001, ANN201
        if text in self.wrong:
            return bytes.fromhex(self.wrong[text])
        return super().encode(bits, text, insn)


# (source, what kasm hands keystone, the wrong bytes, why kasm refuses them)
@pytest.mark.parametrize(("text", "rendered", "wrong", "why"), [
    ("add %eax, %ebx", "add %eax, %ebx", "01cb", "%eax would not be encoded"),  # %ecx
    ("incl 0x100(%eax)", "incl 0x100(%eax)", "ff4000",  # cut to 0
     "the displacement 256 would not be encoded"),
    ("addl $0x1234, %ebx", "addl $0x1234, %ebx", "83c334",
     "the immediate 4660 would not be encoded"),
    ("movl $1, %eax", "movl $0x1, %eax", "b801000000ff", "the disassembler reads other bytes"),
])
def test_capstone_refuses_bytes_that_do_not_say_what_the_source_says(
        text: str, rendered: str, wrong: str, why: str) -> None:
    encoder = Encoder(keystone=_Wrong({rendered: wrong}))
    with pytest.raises(EncodingError) as caught:
        encoder.encode(insn(text), 32)
    assert caught.value.message.endswith(f"not supported ({why})")


def test_the_table_is_sorted_text_one_form_a_line() -> None:
    lines = Path(TABLE).read_text().split("\n")
    assert lines[-1] == "" and lines[:-1] == sorted(lines[:-1])
    assert all(line.count("|") == 3 for line in lines[:-1])

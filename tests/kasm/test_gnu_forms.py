"""Instruction forms where kasm once wrote other bytes than GNU as 2.40 without a word (issue 11,
found in a corpus of real x86 assembly): each line with GNU's bytes, held here so the tests run
without binutils; test_held_bytes_are_gnus re-derives them from GNU where binutils exist. And the
lines GNU refuses, which kasm must refuse too (it used to encode some of them as something else).
"""

from __future__ import annotations

import re

import pytest
from gnu_oracle import GnuRejected, gnu_image

from kasm.build import build_source
from kasm.diagnostics import SourceError

# (mode, source lines after `.codeN`, GNU's flat image)
GNU_BYTES = [
    # NOP with an operand is 0f 1f /0 (keystone wrote the 0f 18 prefetch hint)
    (32, "nop %eax", "0f 1f c0"),
    (32, "nopw (%eax)", "66 0f 1f 00"),
    (32, "nop (%eax)", "0f 1f 00"),
    (16, "nop %ax", "0f 1f c0"),
    (16, "nopl (%bx)", "66 0f 1f 07"),
    (64, "nopl 0x0(%rax)", "0f 1f 00"),
    (64, "nopw %cs:0x0(%rax,%rax,1)", "2e 66 0f 1f 04 00"),
    (64, "nopl 0x10(%r12)", "41 0f 1f 44 24 10"),
    (64, "nopw %r8w", "66 41 0f 1f c0"),
    (64, "nop %rax", "48 0f 1f c0"),
    (64, "nopq (%rax)", "48 0f 1f 00"),
    (32, "nopl L(%eax)\nL:", "0f 1f 80 07 10 00 00"),
    (64, "xchg %rax,%rax", "90"),
    (64, "xchgq %rax,%rax", "90"),
    # mandatory prefixes
    (32, "xcryptecb", "f3 0f a7 c8"),
    (32, "xcryptcbc", "f3 0f a7 d0"),
    (32, "xcryptctr", "f3 0f a7 d8"),
    (32, "xcryptcfb", "f3 0f a7 e0"),
    (32, "xcryptofb", "f3 0f a7 e8"),
    (16, "xsha1", "f3 0f a6 c8"),
    (32, "xsha256", "f3 0f a6 d0"),
    (32, "montmul", "f3 0f a6 c0"),
    (32, "rep xcryptecb", "f3 0f a7 c8"),
    (32, "fsetpm", "9b db e4"),
    (32, "fnsetpm", "db e4"),
    (32, "fdisi\nfeni", "9b db e1 9b db e0"),
    (32, "es fwait", "26 9b"),
    (32, "fs wait", "64 9b"),
    # addr16/addr32 pick loop's and jcxz's counter
    (32, "addr16 loop .", "67 e2 fd"),
    (32, "addr16 loopne .", "67 e0 fd"),
    (32, "addr16 jecxz .", "67 e3 fd"),
    (16, "addr32 loop .", "67 e2 fd"),
    (16, "addr32 jcxz .", "67 e3 fd"),
    (64, "addr32 loop .", "67 e2 fd"),
    # xbegin's operand is pc-relative
    (32, "1: xbegin 1b", "c7 f8 fa ff ff ff"),
    (16, "1: xbegin 1b", "c7 f8 fc ff"),
    (64, "xbegin 1f\n1:", "c7 f8 00 00 00 00"),
    (32, "xbegin .+0x100", "c7 f8 fa 00 00 00"),
    # what GNU accepts and kasm refused
    (32, "xacquire lock incl (%eax)", "f2 f0 ff 00"),
    (32, "xrelease lock incl (%eax)", "f3 f0 ff 00"),
    (32, "xacquire xchg %eax,(%ebx)", "f2 87 03"),
    (32, "xrelease movl $1,(%ebx)", "f3 c7 03 01 00 00 00"),
    (64, "endbr64", "f3 0f 1e fa"),
    (32, "endbr32", "f3 0f 1e fb"),
    (32, "retf", "cb"),
    (32, "retf $4", "ca 04 00"),
    (32, "bnd jmp .", "f2 eb fd"),
    (32, "bnd jne .", "f2 75 fd"),
    (32, "bnd call *%eax", "f2 ff d0"),
    (32, "bnd ret", "f2 c3"),
    # AVX-512: GNU compresses an EVEX disp8 (disp8*N); keystone wrote it uncompressed or cut
    (64, "vmovaps 0x40(%rax),%zmm0", "62 f1 7c 48 28 40 01"),
    (64, "vmovaps 0x1000(%rax),%zmm0", "62 f1 7c 48 28 40 40"),
    (64, "vmovaps 0x44(%rax),%zmm0", "62 f1 7c 48 28 80 44 00 00 00"),
    (64, "vmovaps -0x2000(%rax),%zmm0", "62 f1 7c 48 28 40 80"),
    (64, "vaddsd 8(%rax),%xmm17,%xmm2", "62 f1 f7 00 58 50 01"),
    (64, "vaddsd 0x400(%rax),%xmm17,%xmm2", "62 f1 f7 00 58 90 00 04 00 00"),
    (64, "vpternlogd $1,0x80(%rax),%zmm2,%zmm3", "62 f3 6d 48 25 58 02 01"),
    (64, "vmovaps L(%rax),%zmm0\nL:", "62 f1 7c 48 28 80 0a 10 00 00"),
    # VEX where keystone wrote EVEX (#UD without AVX-512); W as the VEX form has it
    (32, "vaddsd (%ecx),%xmm6,%xmm2", "c5 cb 58 11"),
    (32, "vmulss 4(%ecx),%xmm1,%xmm2", "c5 f2 59 51 04"),
    (32, "vsqrtsd 0x100(%ecx),%xmm1,%xmm2", "c5 f3 51 91 00 01 00 00"),
    (32, "vfmadd231sd 0x7f(%ecx),%xmm1,%xmm2", "c4 e2 f1 b9 51 7f"),
    (64, "vaddsd 0x10(%r9,%r10,8),%xmm6,%xmm2", "c4 81 4b 58 54 d1 10"),
    # pseudo-prefixes, pseudo index registers, directives GNU has
    (32, "{load} add %eax,%ebx", "03 d8"),
    (32, "{load} movw %ax,%bx", "66 8b d8"),
    (64, "{load} mov %r8,%rbx", "49 8b d8"),
    (32, "{load} test %eax,%ebx", "85 d8"),
    (32, "{load} mov %eax,(%ebx)", "89 03"),
    (32, "{store} mov %eax,%ebx", "89 c3"),
    (32, "{vex} vaddps %xmm1,%xmm2,%xmm3", "c5 e8 58 d9"),
    (32, "{vex3} vaddps %xmm1,%xmm2,%xmm3", "c4 e1 68 58 d9"),
    (32, "{nooptimize} mov %eax,%ebx", "89 c3"),
    (32, ".allow_index_reg\nlea 0(%esi,%eiz,1),%esi", "8d 34 26"),
    (32, ".allow_index_reg\nlea 4(%esi,%eiz,2),%esi", "8d 74 66 04"),
    (64, ".allow_index_reg\nlea 0(,%riz,1),%rax", "48 8d 04 25 00 00 00 00"),
    (32, ".nops 12", "8d b4 26 00 00 00 00 8d 74 26 00 90"),
    (32, ".nops 13, 5", "8d 74 26 00 8d 74 26 00 8d 74 26 00 90"),
    (32, ".nops 30, 6", "eb 1c 8d b6 00 00 00 00 8d b6 00 00 00 00 8d b6 00 00 00 00 8d b6 "
     "00 00 00 00 8d 74 26 00"),
    (64, ".nops 20", "66 66 2e 0f 1f 84 00 00 00 00 00 66 0f 1f 84 00 00 00 00 00"),
    (16, ".nops 7", "8d b4 00 00 8d 74 00"),
    (32, ".uleb128 0, 127, 128, 300, 0x12345678\n.sleb128 0, -1, 63, 64, -64, -65, -300",
     "00 7f 80 01 ac 02 f8 ac d1 91 01 00 7f 3f c0 00 40 bf 7f d4 7d"),
    (32, ".arch i686\nnop", "90"),
    # macro arguments: no substitution inside a character constant; one empty last argument
    (32, ".irpc c, kasm\n.byte '\\c' - 32\n.endr", "43 43 43 43"),
    (32, ".macro q x\n.ascii \"[\\x]\"\n.byte '\\x'\n.endm\nq 7", "5b 37 5d 78"),
    (32, ".macro m a\n.byte \\a\n.endm\nm 1,", "01"),
]

# (mode, source lines, kasm's message): GNU refuses each (with the same words)
GNU_REFUSES = [
    (32, "nop %eax, %ebx", "number of operands mismatch for 'nop'"),
    (32, "nop $1", "operand size mismatch for 'nop'"),
    (32, "nopq (%eax)", "'nopq' is only supported in 64-bit mode"),
    (32, "xacquire incl (%eax)", "missing 'lock' with 'xacquire'"),
    (32, "xacquire nop", "invalid instruction 'nop' after 'xacquire'"),
    (32, "xrelease movl %eax,%ebx", "memory destination needed for instruction 'mov' after "
     "'xrelease'"),
    (32, "xacquire movl $1,(%ebx)", "instruction 'mov' after 'xacquire' not allowed"),
    (32, "bnd nop", "expecting valid branch instruction after 'bnd'"),
    (32, ".nops 40, 8", "invalid single nop size: 8 (expect within [0, 7])"),
]
# (mode, source lines, the line of the error, kasm's message)
GNU_REFUSES_LATER = [
    (32, ".macro m a\n.byte \\a\n.endm\nm 1,,", 5, "macro 'm' takes 1 argument(s), got 3"),
    (32, ".macro m\n.endm\nm ,", 4, "macro 'm' takes 0 argument(s), got 2"),
]


# (mode, source lines, line:col, kasm's message): GNU accepts each, and kasm cannot write
# GNU's bytes, so it refuses with a located error instead of writing others
KASM_REFUSES = [
    (32, "{disp32} mov 1(%eax),%eax", "2:1", "the pseudo-prefix '{disp32}' is not supported"),
    (32, "{evex} vaddps %xmm1,%xmm2,%xmm3", "2:1", "'{evex}' on 'vaddps' is not supported "
     "(kasm writes EVEX only where keystone does)"),
    (64, "vaddps %zmm1,%zmm2,%zmm3{%k1}", "2:25", "AVX-512 operand decoration '{%k1}' "
     "(masking, zeroing, broadcast, rounding) is not supported"),
    (64, "vmovaps %zmm1,%zmm2{%k1}{z}", "2:20", "AVX-512 operand decoration '{%k1}{z}' "
     "(masking, zeroing, broadcast, rounding) is not supported"),
    (64, "vaddps (%rax){1to16},%zmm1,%zmm2", "2:14", "AVX-512 operand decoration '{1to16}' "
     "(masking, zeroing, broadcast, rounding) is not supported"),
    (64, "vaddps {rn-sae},%zmm1,%zmm2,%zmm3", "2:8", "AVX-512 operand decoration '{rn-sae}' "
     "(masking, zeroing, broadcast, rounding) is not supported"),
    (32, ".uleb128 L\nL:", "2:10", ".uleb128 value must be an absolute expression known at "
     "this point"),
    (32, ".type f, %gnu_indirect_function\nf: nop\ncall f", "2:10",
     "'f' as a %gnu_indirect_function is not supported: GNU reaches it through a PLT that "
     "kasm does not make"),
    (32, '.section .rodata.str1.1,"aMS",@progbits,1\n.asciz "xy"\n.asciz "y"', "2:1",
     "kasm cannot link section .rodata.str1.1 as ld does: ld merges the string 'y' into an "
     "equal or longer one (mergeable sections with duplicates are not supported)"),
    (32, '.section .rodata.cst4,"aM",@progbits,4\n.long 1, 2, 1', "2:1",
     "kasm cannot link section .rodata.cst4 as ld does: ld merges the duplicate constant "
     "0x00000001 (mergeable sections with duplicates are not supported)"),
]


def _source(bits: int, lines: str) -> str:
    return f".code{bits}\n{lines}\n"


@pytest.mark.parametrize(("bits", "lines", "gnu_hex"), GNU_BYTES,
                         ids=[f"{b}:{s}" for b, s, _ in GNU_BYTES])
def test_kasm_writes_gnus_bytes(bits: int, lines: str, gnu_hex: str) -> None:
    assert build_source(_source(bits, lines)).image.flat().hex(" ") == gnu_hex


@pytest.mark.parametrize(("bits", "lines", "message"), GNU_REFUSES,
                         ids=[f"{b}:{s}" for b, s, _ in GNU_REFUSES])
def test_kasm_refuses_what_gnu_refuses(bits: int, lines: str, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        build_source(_source(bits, lines), "t.S")
    assert re.search(rf"t\.S:2:\d+: error: {re.escape(message)}", str(caught.value))


@pytest.mark.parametrize(("bits", "lines", "where", "message"), KASM_REFUSES)
def test_kasm_refuses_what_it_cannot_write_as_gnu_does(bits: int, lines: str, where: str,
                                                       message: str) -> None:
    with pytest.raises(SourceError) as caught:
        build_source(_source(bits, lines), "t.S")
    assert f"t.S:{where}: error: {message}" in str(caught.value)


@pytest.mark.parametrize(("bits", "lines", "where", "message"), KASM_REFUSES)
def test_gnu_accepts_what_kasm_refuses(bits: int, lines: str, where: str, message: str,
                                       binutils: None) -> None:
    gnu_image(_source(bits, lines))


@pytest.mark.parametrize(("bits", "lines", "line", "message"), GNU_REFUSES_LATER)
def test_kasm_refuses_what_gnu_refuses_in_macros(bits: int, lines: str, line: int,
                                                 message: str) -> None:
    with pytest.raises(SourceError) as caught:
        build_source(_source(bits, lines), "t.S")
    assert f"t.S:{line}:1: error: {message}" in str(caught.value)


@pytest.mark.parametrize(("bits", "lines", "gnu_hex"), GNU_BYTES,
                         ids=[f"{b}:{s}" for b, s, _ in GNU_BYTES])
def test_held_bytes_are_gnus(bits: int, lines: str, gnu_hex: str, binutils: None) -> None:
    assert gnu_image(_source(bits, lines)).hex(" ") == gnu_hex


@pytest.mark.parametrize(("bits", "lines", "message"), GNU_REFUSES,
                         ids=[f"{b}:{s}" for b, s, _ in GNU_REFUSES])
def test_gnu_refuses_them_too(bits: int, lines: str, message: str, binutils: None) -> None:
    with pytest.raises(GnuRejected):
        gnu_image(_source(bits, lines))


@pytest.mark.parametrize(("bits", "lines", "line", "message"), GNU_REFUSES_LATER)
def test_gnu_refuses_those_macro_calls_too(bits: int, lines: str, line: int, message: str,
                                           binutils: None) -> None:
    with pytest.raises(GnuRejected):
        gnu_image(_source(bits, lines))

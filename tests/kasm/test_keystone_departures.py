"""Every keystone 0.9.2 departure from GNU as that can change a guest's bytes, one test each.

The departures are measured in /work/shared/notes/keystone-0.9.2.md (and more found by the GNU
fidelity corpus, tests/asm). Expected bytes are GNU's (`as --32`, `ld`, `objcopy -O binary`,
.text at 0x1000), written out here so the tests run without binutils;
test_expected_bytes_are_gnus re-derives all of them from GNU when binutils are installed.
"""

from __future__ import annotations

import pytest
from gnu_oracle import gnu_image

from kasm.build import build_source

CASES: dict[str, tuple[str, str]] = {}  # test name -> (source, GNU's flat image in hex)


def flat(source: str) -> bytes:
    return build_source(source).image.flat()


def departure(source: str, gnu_hex: str):
    """A test that kasm's image of `source` is GNU's; registered for the cross-check below."""
    def register(check):
        CASES[check.__name__] = (source, gnu_hex)

        def test() -> None:
            check(source, bytes.fromhex(gnu_hex))

        test.__name__, test.__doc__ = check.__name__, check.__doc__
        return test
    return register


def same_as_gnu(source: str, gnu: bytes) -> None:
    assert flat(source) == gnu



@departure("""\
    .text
    .code16
    _start: hlt
    .text
    nop
""", "f4 90")
def test_dot_text_does_not_crash(source, gnu):
    """`.text` kills keystone (SIGSEGV); kasm handles sections itself."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    _start: movw $msg, %si
    .section .rodata
    msg: .ascii "ok"
    .section .text
    hlt
""", "be 04 10 f4 6f 6b")
def test_section_directive_is_honoured(source, gnu):
    """`.section` makes keystone return nothing; kasm links .rodata after .text."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    _start: ljmpw $0, $_start
    ljmpl $8, $_start
    lcallw $0x10, $_start
    lcalll $0x18, $_start
""", (
    "ea 00 10 00 00 66 ea 00 10 00 00 08 00 9a 00 10 10 00 66 9a 00 10 00 00 "
    "18 00"
))
def test_far_jump_with_size_suffix_in_16bit(source, gnu):
    """`ljmpw $0,$x` / `ljmpl $8,$x` make keystone return nothing."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    _start: ljmp $0x10, $0x1234
    jmp $0x20, $_start
    lcall $0x30, $_start
    call $0x40, $0x5678
    .code32
    ljmp $8, $0x12345678
""", (
    "ea 34 12 10 00 ea 00 10 20 00 9a 00 10 30 00 9a 78 56 40 00 ea 78 56 34 "
    "12 08 00"
))
def test_far_jump_immediate_form(source, gnu):
    """`ljmp $s,$o`, `jmp $s,$o`, `lcall $s,$o`: ea/9a, offset, then selector."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    es lodsb
    es
    lodsw
    rep movsw
    lock incw (%bx)
""", "26 ac 26 ad f3 a5 f0 ff 07")
def test_prefix_written_as_mnemonic(source, gnu):
    """`es lodsb` makes keystone return nothing; GNU: 26 ac."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    rep es movsb
    es rep movsb
    addr32 movb (%esi), %al
    lock xchgw %ax, %es:(%bx)
    rep movsl
""", "26 f3 a4 26 f3 a4 67 8a 06 26 f0 87 07 66 f3 a5")
def test_rep_prefix_order(source, gnu):
    """Prefixes come out in GNU's slot order (segment, 67, 66, rep, lock), each once."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    start: nop
    .fill 8-(.-start),1,0xcc
    second: jmp third
    .fill 6-(.-second),2,0x1234
    third: hlt
""", "90 cc cc cc cc cc cc cc eb 08 34 12 34 12 34 12 34 12 f4")
def test_fill_with_dot_count_does_not_hang(source, gnu):
    """`.fill 8-(.-start),1,0xcc` hangs keystone; kasm computes it (also after a jump)."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    movw $42, %bx
    movw $50000, %ax
    movb $100, %al
    addw $1000, %cx
    pushw $10
""", "bb 2a 00 b8 50 c3 b0 64 81 c1 e8 03 6a 0a")
def test_plain_decimal_immediates_are_decimal(source, gnu):
    """Keystone reads unprefixed decimals as hex; `movw $50000` it truncates to 0."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    movw 100(%bx), %ax
    movw %ax, -20(%bp)
    incw 1234
    .code32
    movl 1000(%eax,%ebx,4), %ecx
""", "8b 47 64 89 46 ec ff 06 d2 04 8b 8c 98 e8 03 00 00")
def test_plain_decimal_displacements_are_decimal(source, gnu):
    """Displacements and absolute addresses written in decimal."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .word 1000
    .byte 100, 255
    .long 100000
    .quad 1234567890123
""", "e8 03 64 ff a0 86 01 00 cb 04 fb 71 1f 01 00 00")
def test_plain_decimal_data_is_decimal(source, gnu):
    """`.word 1000` (keystone: 00 10), `.byte 100` (keystone: range error), `.long`."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .data
    .byte 1
    .align 16
    .byte 2
    .text
    hlt
""", (
    "f4 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 "
    "00 00 00 00 00 00 00 00 02"
))
def test_align_with_decimal_argument_is_honoured(source, gnu):
    """`.align 16` is silently ignored by keystone."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .equ N, 10
    movw $N*100, %ax
    movw $LEN, %cx
    msg: .ascii "abc"
    end:
    .equ LEN, end - msg
""", "b8 e8 03 b9 03 00 61 62 63")
def test_equ_with_decimal_value(source, gnu):
    """`.equ` values in decimal, forward references and label differences."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    1: dec %cx
    jnz 1b
    jmp 1f
    nop
    1: movw $1b, %ax
""", "49 75 fd eb 01 90 b8 06 10")
def test_local_numeric_labels(source, gnu):
    """`1:`/`1b`/`1f` lex as hex numbers in keystone."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    movw $d, %si
    movw $b, %di
    hlt
    .data
    d: .word 0x1234
    .bss
    b: .space 16
    .text
    ret
""", "be 08 10 bf 0a 10 f4 c3 34 12")
def test_data_and_bss_are_real_sections(source, gnu):
    """Keystone puts .data/.bss bytes inline and resolves labels after them to 0."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    _start: jmp far
    jz far
    call far
    .fill 200,1,0x90
    far: jmp _start
    jnz _start
""", (
    "e9 cf 00 0f 84 cb 00 e8 c8 00 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 e9 2b ff 0f 85 27 "
    "ff"
))
def test_long_jump_in_16bit_uses_rel16(source, gnu):
    """Keystone: 66 e9 rel32 / 66 0f 8x rel32; GNU: e9 rel16 / 0f 8x rel16."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    incw c
    jmp *p
    call *p
    lgdt d
    movzwl v, %ebx
    c: .word 0
    p: .word 0
    d: .word 0
    .long 0
    v: .word 0
""", (
    "ff 06 17 10 ff 26 19 10 ff 16 19 10 0f 01 16 1b 10 66 0f b7 1e 21 10 00 "
    "00 00 00 00 00 00 00 00 00 00 00"
))
def test_label_memory_operand_has_no_address_size_prefix(source, gnu):
    """Keystone: `incw c` → 67 ff 05 disp32; GNU: ff 06 disp16."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    nop
    .balign 4
    nop
    .balign 8
    nop
    .balign 16
    nop
    .balign 32
    hlt
""", (
    "90 8d 74 00 90 8d 74 00 90 8d b4 00 00 8d 74 00 90 eb 0d 8d b4 00 00 8d "
    "b4 00 00 8d b4 00 00 90 f4"
))
def test_code_alignment_pads_with_gnu_nops(source, gnu):
    """16-bit code alignment: 90, 66 90, 8d 74 00, 8d b4 00 00; a jmp over NOPs from 12 bytes."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    nop
    .balign 8
    hlt
    .code32
""", "90 8d b4 26 00 00 00 00 f4")
def test_code_alignment_nops_follow_the_final_code_mode(source, gnu):
    """GNU picks the NOP table by the .code mode at the end of the file."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    hlt
    .data
    .byte 1
    .balign 8
    .byte 2
    .section .rodata
    .byte 3
    .p2align 2
    .byte 4
""", (
    "f4 00 00 00 03 00 00 00 04 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 "
    "02"
))
def test_data_alignment_pads_with_zeros(source, gnu):
    """Keystone pads data alignment with NOPs."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    nop
    .balign 8, 0x90
    nop
    .balign 8, 0xcc
    hlt
""", "90 8d b4 00 00 8d 74 00 90 cc cc cc cc cc cc cc f4")
def test_explicit_nop_fill_in_code_means_gnu_nops(source, gnu):
    """GNU md_do_align: `.balign 8, 0x90` in code is NOP padding; other fills are kept."""
    same_as_gnu(source, gnu)


@departure("""\
    .code32
    movw %ax, %ds
    mov %ax, %es
    movl %eax, %fs
    .code16
    movl %eax, %ds
""", "8e d8 8e c0 8e e0 8e d8")
def test_movw_to_segment_register_in_code32_has_no_prefix(source, gnu):
    """Keystone: 66 8e d8; GNU: 8e d8."""
    same_as_gnu(source, gnu)


@departure("""\
    .code32
    movw %ds, 0x1234
    movw %es, (%eax)
    movw %ds, %ax
    .code16
    mov %ds, 0x1234
    movl %ds, %eax
""", "8c 1d 34 12 00 00 8c 00 66 8c d8 8c 1e 34 12 66 8c d8")
def test_segment_register_store_to_memory_has_no_prefix(source, gnu):
    """Keystone adds 66 to `movw %ds, mem` in 32-bit code and `mov %ds, mem` in 16-bit code."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    hlt
    .code64
    mov %ds, %rax
    movq %rax, %ds
    mov %ds, %r8
""", "f4 8c d8 8e d8 41 8c d8")
def test_segment_register_move_in_64bit_has_no_rex_w(source, gnu):
    """Keystone: 48 8c d8 / 48 8e d8; GNU leaves REX.W out."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    int $3
    int3
    int $4
""", "cc cc cd 04")
def test_int3_immediate_is_cc(source, gnu):
    """`int $3` is the one-byte breakpoint cc in GNU (keystone: cd 03)."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    _start: nop
    .org 4
    nop
    .org _start+8, 0xff
    hlt
""", "90 00 00 00 90 ff ff ff f4")
def test_org_with_plain_number(source, gnu):
    """Keystone rejects `.org N`; `.org label+N` and a fill byte."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .hword 0x1234, 1000
""", "34 12 e8 03")
def test_hword_directive(source, gnu):
    """`.hword` is unsupported by keystone."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .dc.b 1, 2
    .dc.w 1000
    .dc.l 0x12345678
    .dc.a 7
""", "01 02 e8 03 78 56 34 12 07 00 00 00")
def test_dc_directives(source, gnu):
    """`.dc.b`, `.dc.w`, `.dc.l`, `.dc.a` (4 bytes in an ELF32 object)."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .arch i386
    .type f, @function
    f: hlt
    .size f, .-f
""", "f4")
def test_arch_type_size_directives_emit_nothing(source, gnu):
    """`.arch`, `.type f,@function`, `.size` are errors in keystone."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .local a
    .weak b
    a: nop
    b: hlt
""", "90 f4")
def test_local_and_weak_emit_nothing(source, gnu):
    """Keystone emits a stray byte for `.local` and `.weak`."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .ascii "\\x41\\x42\\101\\n"
""", "41 42 41 0a")
def test_hex_escape_in_string(source, gnu):
    """`"\x41"` is an error in keystone."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .ascii "\\v\\a\\e\\8\\19\\777"
""", "0b 61 65 08 11 ff")
def test_string_escapes_as_gnu_reads_them(source, gnu):
    """GNU strings: \v is 0b, \a and \\e are the letters, \\8 is octal-ish 8."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .byte '\\n', '\\t', '\\0', '\\a', 'A, '\\''
""", "0a 09 30 61 41 27")
def test_character_constant_escapes_as_gnu_reads_them(source, gnu):
    """GNU char constants know only \b \f \n \r \t; '\0' is '0'."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    hlt # c
    nop ; cli # d
""", "f4 90 fa")
def test_comment_after_operandless_instruction(source, gnu):
    """Keystone rejects `hlt # c`."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    hlt
    .code64
    mov $1, %rax
    mov $-1, %rbx
    mov $0x80000000, %rcx
""", (
    "f4 48 c7 c0 01 00 00 00 48 c7 c3 ff ff ff ff 48 b9 00 00 00 80 00 00 00 "
    "00"
))
def test_mov_imm32_to_64bit_register_is_sign_extended(source, gnu):
    """GNU picks c7 /0 imm32 (sign-extended) for `mov $imm32, %r64`."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    hlt
    .code64
    movl 0x1234, %eax
    incl 0x100
    movl $5, 0x2000
    jmp *0x4000
""", (
    "f4 8b 04 25 34 12 00 00 ff 04 25 00 01 00 00 c7 04 25 00 20 00 00 05 00 "
    "00 00 ff 24 25 00 40 00 00"
))
def test_64bit_absolute_address_uses_sib_not_rip(source, gnu):
    """Keystone encodes `movl 0x1234, %eax` rip-relative; GNU: 8b 04 25 disp32."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    hlt
    .code64
    movl 100(%rip), %eax
    lea msg(%rip), %rsi
    msg: .byte 0
""", "f4 8b 05 64 00 00 00 48 8d 35 00 00 00 00 00")
def test_rip_relative_number_is_a_plain_displacement(source, gnu):
    """`100(%rip)` means displacement 100; a label is pc-relative."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    movw %ds:(%bx), %ax
    movw %ss:(%bp), %ax
    movw %ss:(%bx), %ax
    movw %es:(%bp), %ax
""", "8b 07 8b 46 00 36 8b 07 26 8b 46 00")
def test_redundant_segment_override_is_dropped(source, gnu):
    """GNU emits no prefix for `%ds:(%bx)` or `%ss:(%bp)`; keystone does for %ss."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    movw %ds:(%bp), %ax
    movw %ds:(%ebp), %ax
    .code32
    movl %ds:4(%esp), %eax
""", "3e 8b 46 00 3e 67 8b 45 00 3e 8b 44 24 04")
def test_ds_override_with_bp_base_is_kept(source, gnu):
    """Keystone drops every %ds: override, even where DS is not the default."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    movw (%bp,%si), %ax
    movw (%bp,%di), %ax
    movw 0(%bp,%si), %ax
    movw (%bp), %ax
""", "8b 02 8b 03 8b 02 8b 46 00")
def test_bp_index_without_displacement_has_no_disp8(source, gnu):
    """Keystone: (%bp,%si) → 8b 42 00; GNU: 8b 02."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    lcall $0x30, $0x1234
    lcalll $0x30, $0x12345678
""", "9a 34 12 30 00 66 9a 78 56 34 12 30 00")
def test_lcall_immediate_form_in_16bit(source, gnu):
    """The `l` of lcall is not an operand-size suffix."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    _start: jmp .+2
    nop
    movw $., %ax
    movw $.-_start, %bx
    ljmp $0, $.
""", "eb 00 90 b8 03 10 bb 06 00 ea 09 10 00 00")
def test_dot_in_operand_is_the_instruction_start(source, gnu):
    """`.` in an operand is the address of the instruction's first byte."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    x: cs jz x
    es jmp x
    data32 jmp y
    .fill 200,1,0x90
    y: hlt
""", (
    "2e 74 fd eb fb 66 e9 c8 00 00 00 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 "
    "90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 f4"
))
def test_branch_keeps_only_hint_and_size_prefixes(source, gnu):
    """GNU drops other prefixes on a relative branch (with a warning); data32 widens it."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .macro m a, b=7
    .byte \\a, \\b, \\@
    .endm
    m 1
    m 2, 3
""", "01 07 00 02 03 01")
def test_macro_default_argument(source, gnu):
    r"""Macro parameter defaults; \@ counts expansions from 0."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .equ L, 3
    .if L == 1
    .byte 1
    .elseif L == 3
    .byte 3
    .else
    .byte 0
    .endif
""", "03")
def test_elseif_after_inactive_branch(source, gnu):
    """`.elseif` is evaluated with its own arguments."""
    same_as_gnu(source, gnu)


@departure("""\
    .code16
    .byte 1, 2
    .p2alignw 2, 0x1234
    .balignl 8, 0xaabbccdd
    hlt
""", "01 02 34 12 dd cc bb aa f4")
def test_p2alignw_and_balignl_patterns(source, gnu):
    """`.p2alignw`/`.balignl` repeat a 2- or 4-byte fill pattern."""
    same_as_gnu(source, gnu)


def test_boot_sector_fill_and_signature():
    """`.fill 510-(.-_start),1,0` after a jump + `.word 0xaa55`: exactly one 512-byte sector."""
    image = flat(""".code16
_start:
    jmp main
    .ascii "BOOT"
main:
    hlt
    jmp main
    .fill 510-(.-_start), 1, 0
    .word 0xaa55
""")
    assert len(image) == 512
    assert image[:9] == bytes.fromhex("eb 04 42 4f 4f 54 f4 eb fd")
    assert image[9:510] == bytes(501)
    assert image[510:] == b"\x55\xaa"


def test_branch_prefix_that_gnu_skips_is_a_warning():
    result = build_source(".code16\nx: es jmp x\n")
    assert [w.message for w in result.warnings] == ["skipping prefixes on 'jmp'"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_expected_bytes_are_gnus(name, binutils):
    """The hex written in each test above is what GNU binutils make of its source."""
    source, gnu_hex = CASES[name]
    assert gnu_image(source) == bytes.fromhex(gnu_hex)

"""Malformed sources: each gives exactly the diagnostics a user needs, never a traceback.

Each file in tests/errors/ is one mistake; EXPECTED lists every error it must produce as
(file, line, message), file relative to tests/errors/ (line 0: about the whole file).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kasm.build import build_file, build_source
from kasm.diagnostics import SourceError

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS = ROOT / "tests" / "errors"

EXPECTED: dict[str, list[tuple[str, int, str]]] = {
    'alignment_not_power_of_two': [
        ('alignment_not_power_of_two.S', 3, 'alignment 3 is not a power of 2'),
    ],
    'bad_expression': [('bad_expression.S', 2, "unexpected '*' in expression")],
    'bad_memory_base': [('bad_memory_base.S', 2, "'(%ax)' is not a valid base/index expression")],
    'bad_number': [('bad_number.S', 2, "invalid number '12ab'")],
    'bad_octal': [('bad_octal.S', 2, "invalid octal number '09'")],
    'bad_register': [('bad_register.S', 2, "bad register name '%zx'")],
    'byte_field_overflow': [
        ('byte_field_overflow.S', 4, 'value 0x1002 does not fit in an 8-bit field'),
    ],
    # GNU's fixup check: -255..255 fit a byte, -256 does not
    'byte_value_defined_later': [
        ('byte_value_defined_later.S', 5, 'value 0xffffffffffffff00 does not fit in an 8-bit field'),
    ],
    'division_by_zero': [('division_by_zero.S', 3, 'division by zero')],
    'dot_include_not_found': [
        ('dot_include_not_found.S', 2, "include file 'missing.inc' not found"),
    ],
    'duplicate_equiv': [
        ('duplicate_equiv.S', 2,
         "symbol 'LIMIT' is already defined (at tests/errors/duplicate_equiv.S:1)"),
    ],
    'duplicate_label': [
        ('duplicate_label.S', 4,
         "symbol 'start' is already defined (at tests/errors/duplicate_label.S:2)"),
    ],
    'else_without_if': [('else_without_if.S', 1, '.else without .if')],
    'empty_file': [
        ('empty_file.S', 0,
         'no code: .text is empty, so there is nothing to run (instructions go in .text, the default section)'),
    ],
    'endif_without_if': [('endif_without_if.S', 2, '.endif without .if')],
    'endm_without_macro': [('endm_without_macro.S', 3, '.endm without a matching .macro')],
    'endr_without_rept': [('endr_without_rept.S', 3, '.endr without a matching .rept/.irp')],
    'equ_self_reference': [('equ_self_reference.S', 1, "symbol 'A' is defined in terms of itself")],
    'err_directive': [('err_directive.S', 3, '.err encountered')],
    'error_directive_message': [('error_directive_message.S', 3, 'configuration not supported')],
    'error_in_cpp_include': [('inc/typo.h', 2, "unknown instruction 'movz'")],
    'error_in_dot_include': [('inc/typo.inc', 2, "unknown instruction 'jmpp'")],
    'error_inside_macro': [('error_inside_macro.S', 2, "operand size mismatch for 'movq'")],
    'far_jump_in_64bit': [
        ('far_jump_in_64bit.S', 2, "far 'ljmp $seg, $offset' is invalid in 64-bit mode"),
    ],
    'global_never_defined': [
        ('global_never_defined.S', 1, "global symbol '_start' is never defined"),
    ],
    'hex_escape_without_digits': [
        ('hex_escape_without_digits.S', 3, '\\x used with no following hex digits'),
    ],
    'if_not_constant': [
        ('if_not_constant.S', 2, 'condition must be an absolute expression known at this point'),
    ],
    'include_not_found': [('include_not_found.S', 1, 'include file missing.h not found')],
    'instruction_in_bss': [
        ('instruction_in_bss.S', 2, "instruction 'hlt' in section .bss (which holds no data)"),
    ],
    'intel_syntax_directive': [
        ('intel_syntax_directive.S', 1, '.intel_syntax is not supported: kasm reads AT&T syntax'),
    ],
    'intel_syntax_register': [
        ('intel_syntax_register.S', 2,
         "register 'ax' needs a '%' prefix: kasm reads AT&T syntax (write %ax)"),
    ],
    'invalid_in_64bit': [('invalid_in_64bit.S', 2, "'push %eax' is not valid in 64-bit mode")],
    'jcxz_out_of_range': [
        ('jcxz_out_of_range.S', 2,
         'jump target out of range: the target is 300 bytes away, this instruction reaches -128..127'),
    ],
    'label_redefined_by_equ': [
        ('label_redefined_by_equ.S', 3,
         "symbol 'there' is already defined (at tests/errors/label_redefined_by_equ.S:2)"),
    ],
    'loop_out_of_range': [
        ('loop_out_of_range.S', 4,
         'jump target out of range: the target is -202 bytes away, this instruction reaches -128..127'),
    ],
    'macro_missing_endm': [('macro_missing_endm.S', 1, 'missing .endm for this .macro')],
    'macro_missing_required': [
        ('macro_missing_required.S', 5, "macro 'need': missing value for required parameter 'a'"),
    ],
    'macro_redefined': [('macro_redefined.S', 4, "macro 'twice' is already defined")],
    'macro_too_many_args': [('macro_too_many_args.S', 5, "macro 'one' takes 1 argument(s), got 2")],
    'missing_endif': [('missing_endif.S', 1, 'missing .endif for this conditional')],
    'missing_paren': [('missing_paren.S', 2, 'unbalanced parentheses in operands')],
    'no_previous_local_label': [
        ('no_previous_local_label.S', 2, "no previous definition of local label '1'"),
    ],
    'no_text': [
        ('no_text.S', 0,
         'no code: .text is empty, so there is nothing to run (instructions go in .text, the default section)'),
    ],
    'operand_size_mismatch': [('operand_size_mismatch.S', 2, "operand size mismatch for 'mov'")],
    'org_backwards': [
        ('org_backwards.S', 3, 'attempt to move .org backwards (to 0x8, already at 0x10)'),
    ],
    'org_negative': [
        ('org_negative.S', 4,
         'attempt to move .org backwards (to -0x1, before the start of the section)'),
    ],
    # layout runs after parse errors, and reports in GNU's order: parse errors, then layout's
    'org_backwards_among_errors': [
        ('org_backwards_among_errors.S', 3, "unknown instruction 'movx'"),
        ('org_backwards_among_errors.S', 6, "unknown directive '.bogus'"),
        ('org_backwards_among_errors.S', 5,
         'attempt to move .org backwards (to 0x8, already at 0x10)'),
    ],
    'branches_out_of_range': [
        ('branches_out_of_range.S', 4,
         'jump target out of range: the target is 202 bytes away, this instruction reaches -128..127'),
        ('branches_out_of_range.S', 5,
         'jump target out of range: the target is 200 bytes away, this instruction reaches -128..127'),
        ('branches_out_of_range.S', 9,
         'jump target out of range: the target is -207 bytes away, this instruction reaches -128..127'),
    ],
    'popsection_without_push': [
        ('popsection_without_push.S', 3, '.popsection without .pushsection'),
    ],
    'pp_error': [('pp_error.S', 1, '#error "stop here"')],
    'rept_missing_endr': [('rept_missing_endr.S', 1, 'missing .endr for this .rept')],
    'several_errors': [
        ('several_errors.S', 2, "unknown instruction 'movx'"),
        ('several_errors.S', 3, "operand size mismatch for 'mov'"),
        ('several_errors.S', 4, "unknown directive '.bogus'"),
    ],
    'string_expected': [('string_expected.S', 3, 'expected a string in double quotes')],
    'too_many_operands': [('too_many_operands.S', 2, "number of operands mismatch for 'mov'")],
    'undefined_jump_target': [('undefined_jump_target.S', 2, "undefined symbol 'away'")],
    'undefined_local_label': [('undefined_local_label.S', 2, "undefined symbol '1f'")],
    'undefined_symbol': [('undefined_symbol.S', 2, "undefined symbol 'nowhere'")],
    'unknown_directive': [('unknown_directive.S', 2, "unknown directive '.frobnicate'")],
    'unknown_mnemonic': [('unknown_mnemonic.S', 3, "unknown instruction 'movx'")],
    'unknown_section': [
        ('unknown_section.S', 1,
         "unknown section '.weird': kasm links .text, .rodata, .data and .bss (and .text.*, .rodata.*, .data.*, .bss.*)"),
    ],
    'unterminated_comment': [('unterminated_comment.S', 3, 'unterminated comment')],
    'unterminated_string': [('unterminated_string.S', 3, 'missing terminating \'"\' character')],
    'space_too_large': [('space_too_large.S', 3, "549755813887 bytes is too large (kasm's limit for a section is 1 GiB)")],
    'align_too_large': [('align_too_large.S', 3, 'alignment 1099511627776 is too large (at most 1 GiB)')],
    'comm_negative_size': [('comm_negative_size.S', 3, '.comm size -5 is negative')],
    'org_too_far': [('org_too_far.S', 3, "2147483646 bytes is too large (kasm's limit for a section is 1 GiB)")],
    'data_in_bss': [('data_in_bss.S', 4, 'section .bss holds no data: only zeros can be reserved in it')],
    'incbin_out_of_range': [('incbin_out_of_range.S', 3, '.incbin skip (0) or count (99999) invalid for file size (66)')],
    # found by fuzzing (tests/kasm/test_source_fuzz.py): each was a traceback before
    'fuzz_align_without_alignment': [
        ('fuzz_align_without_alignment.S', 4, '.align needs an alignment'),
    ],
    'fuzz_rept_runaway': [
        ('fuzz_rept_runaway.S', 6, 'too many statements (more than 500000: runaway .rept or macro recursion?)'),
    ],
    'fuzz_irp_closed_after_macro': [
        ('fuzz_irp_closed_after_macro.S', 10, '.endr without a matching .rept/.irp'),
    ],
    'fuzz_cpp_macro_bomb': [
        ('fuzz_cpp_macro_bomb.S', 33, '#define macros expand to more than 1000000 tokens (runaway macro expansion?)'),
    ],
    'fuzz_cpp_define_chain': [
        ('fuzz_cpp_define_chain.S', 1503, '#define macros nested too deeply to expand'),
    ],
    'fuzz_rept_empty_body': [('fuzz_rept_empty_body.S', 9, '.err encountered')],
    'fuzz_char_escaped_quote': [('fuzz_char_escaped_quote.S', 4, "junk '1' after expression")],
    'fuzz_cpp_include_itself': [
        ('fuzz_cpp_include_itself.S', 2, '#include nested more than 200 deep (recursive include?)'),
    ],
    'fuzz_define_without_name': [('fuzz_define_without_name.S', 4, '#define needs a macro name')],
    'fuzz_error_message_not_utf8': [
        ('fuzz_error_message_not_utf8.S', 4, 'bad byte \\xff'),
        ('fuzz_error_message_not_utf8.S', 5, '.err encountered'),
    ],
    # keystone wrote %spl for %ah beside %sil, or aborted the process (an LLVM fatal error)
    'high_byte_register_with_rex': [
        ('high_byte_register_with_rex.S', 3,
         "can't encode register '%ah' in an instruction requiring REX prefix"),
        ('high_byte_register_with_rex.S', 5,
         "can't encode register '%bh' in an instruction requiring REX prefix"),
        ('high_byte_register_with_rex.S', 6,
         "can't encode register '%ch' in an instruction requiring REX prefix"),
    ],
    # keystone looped forever on a prefix mnemonic followed by an operand; `movzx` alone
    # was a traceback
    'prefix_with_operands': [
        ('prefix_with_operands.S', 3, "invalid character '%' in mnemonic"),
        ('prefix_with_operands.S', 4, "invalid character '(' in mnemonic"),
        ('prefix_with_operands.S', 5, "invalid character '$' in mnemonic"),
        ('prefix_with_operands.S', 6, "number of operands mismatch for 'movzx'"),
    ],
    # keystone silently encoded each as another address or instruction
    'invalid_base_index': [
        ('invalid_base_index.S', 3, "'(%xmm0)' is not a valid base/index expression"),
        ('invalid_base_index.S', 4, "unsupported vector index register for 'incl'"),
        ('invalid_base_index.S', 5, "'(%si,%bx)' is not a valid base/index expression"),
        ('invalid_base_index.S', 6, "'(%eax,%esp)' is not a valid base/index expression"),
        ('invalid_base_index.S', 7, "register type mismatch for 'add'"),
    ],
    'only_in_64bit': [
        ('only_in_64bit.S', 3, "'incq' is only supported in 64-bit mode"),
        ('only_in_64bit.S', 4, "'cltq' is only supported in 64-bit mode"),
        ('only_in_64bit.S', 5, "'fxsave64' is only supported in 64-bit mode"),
    ],
    'lock_not_lockable': [
        ('lock_not_lockable.S', 3, "expecting lockable instruction after 'lock'"),
        ('lock_not_lockable.S', 4, "expecting lockable instruction after 'lock'"),
        ('lock_not_lockable.S', 5, "expecting lockable instruction after 'lock'"),
    ],
    'string_register_operands': [
        ('string_register_operands.S', 3, "operand size mismatch for 'stos'"),
        ('string_register_operands.S', 4, "invalid instruction suffix for 'lods'"),
        ('string_register_operands.S', 5, "operand type mismatch for 'scas'"),
        ('string_register_operands.S', 6, "'%al' not allowed with 'lodsl'"),
    ],
    'size_prefix_misused': [
        ('size_prefix_misused.S', 3, 'redundant addr32 prefix'),
        ('size_prefix_misused.S', 4, 'redundant data32 prefix'),
        ('size_prefix_misused.S', 5, "'(%eax)' is not a valid base/index expression"),
        ('size_prefix_misused.S', 7, "'addr16' is not supported in 64-bit mode"),
        ('size_prefix_misused.S', 8, "'data32' is not supported in 64-bit mode"),
    ],
    # kasm retried `cl (%bx)` as `clw`, which keystone knows (as clwb)
    'default_suffix_on_unknown_name': [
        ('default_suffix_on_unknown_name.S', 3, "unknown instruction 'cl'"),
    ],
    'rep_not_allowed': [
        ('rep_not_allowed.S', 3, "invalid instruction 'addl' after 'rep'"),
        ('rep_not_allowed.S', 4, "invalid instruction 'addl' after 'repne'"),
        ('rep_not_allowed.S', 5, "invalid instruction 'nopl' after 'rep'"),
    ],
    # keystone encoded each (into as ce in 64-bit code, salc as d6, icebp as f1)
    'not_in_gnu_or_64bit': [
        ('not_in_gnu_or_64bit.S', 3, "'into' is not supported in 64-bit mode"),
        ('not_in_gnu_or_64bit.S', 4, "'es' is not supported in 64-bit mode"),
        ('not_in_gnu_or_64bit.S', 5, "unknown instruction 'salc'"),
        ('not_in_gnu_or_64bit.S', 6, "unknown instruction 'icebp'"),
    ],
    # keystone encoded an %eip base as %eax/%rax (GNU: addr32 rip-relative, or an error)
    'eip_base_and_rex64_prefix': [
        ('eip_base_and_rex64_prefix.S', 3,
         "'%eip'-relative addresses are not supported (use %rip)"),
        ('eip_base_and_rex64_prefix.S', 5, "'rex64' before another instruction is not supported"),
    ],
    'eip_base_outside_64bit': [('eip_base_outside_64bit.S', 3, "bad register name '%eip'")],
    'fuzz_expression_nested_too_deeply': [
        ('fuzz_expression_nested_too_deeply.S', 4, 'expression is nested too deeply (more than 200 levels)'),
    ],
    'fuzz_fill_zero_size': [('fuzz_fill_zero_size.S', 5, '.fill of 18446744073709551615 bytes is too large')],
    'fuzz_include_name_too_long': [
        ('fuzz_include_name_too_long.S', 4, "include file '" + "a" * 300 + "' not found"),
    ],
    'fuzz_macro_empty_parameter_line': [
        ('fuzz_macro_empty_parameter_line.S', 3, "unknown instruction 'movz'"),
    ],
    'fuzz_symbol_chain_too_deep': [('fuzz_symbol_chain_too_deep.S', 305, 'expression nests too deeply to evaluate (symbols defined in terms of each other, hundreds deep?)')],
    'fuzz_symbol_chain_too_deep_at_link': [('fuzz_symbol_chain_too_deep_at_link.S', 4, 'expression nests too deeply to evaluate (symbols defined in terms of each other, hundreds deep?)')],
    # each was "unknown instruction" or "invalid operands" (GNU's words, checked against as)
    'operands_not_taken': [
        ('operands_not_taken.S', 4, "operand type mismatch for 'lea'"),
        ('operands_not_taken.S', 5, "number of operands mismatch for 'int'"),
        ('operands_not_taken.S', 6, "number of operands mismatch for 'cmc'"),
        ('operands_not_taken.S', 7, "'%al' not allowed with 'incl'"),
        ('operands_not_taken.S', 8, "incorrect register '%ax' used with 'l' suffix"),
        ('operands_not_taken.S', 9, "incorrect register '%eax' used with 'w' suffix"),
        ('operands_not_taken.S', 10, "'xchgq' is only supported in 64-bit mode"),
    ],
    # lodsd: keystone printed LLVM's own warnings on stderr while kasm probed the name
    'suffix_not_taken': [
        ('suffix_not_taken.S', 4, "invalid instruction suffix for 'push'"),
        ('suffix_not_taken.S', 5, "invalid instruction suffix for 'pop'"),
        ('suffix_not_taken.S', 6, "invalid instruction suffix for 'hlt'"),
        ('suffix_not_taken.S', 7, "unknown instruction 'lodsd'"),
    ],
    # each was 1 error and then 49 of "symbol '_start' is already defined"
    'include_itself': [
        ('include_itself.S', 5, "'tests/errors/include_itself.S' includes itself "
         "(tests/errors/include_itself.S -> tests/errors/include_itself.S)"),
    ],
    'include_cycle': [
        ('inc/cycle_b.inc', 2, "'tests/errors/inc/cycle_a.inc' includes itself "
         "(tests/errors/inc/cycle_a.inc -> tests/errors/inc/cycle_b.inc -> "
         "tests/errors/inc/cycle_a.inc)"),
    ],
    'library_macro_not_included': [
        ('library_macro_not_included.S', 4, "unknown instruction 'hc_putchar': it is a macro of "
         'hypercall.h (add .include "hypercall.h", or #include <hypercall.h> in a .S file)'),
        ('library_macro_not_included.S', 5, "unknown instruction 'hc_exit': it is a macro of "
         'hypercall.h (add .include "hypercall.h", or #include <hypercall.h> in a .S file)'),
    ],
    # line 3 (`movsb (%bx), (%di)`) is GNU's warning, and movsb: see the test below
    'string_operands_checked': [('string_operands_checked.S', 4, "'movs' needs a size suffix (b, w, l or q): its operands don't say"), ('string_operands_checked.S', 5, "'stos' operand 1 must use '%es' segment")],
    'string_operands_refused': [
        ('string_operands_refused.S', 4, "number of operands mismatch for 'movs'"),
        ('string_operands_refused.S', 5, "operand size mismatch for 'lods'"),
        ('string_operands_refused.S', 6, "operand size mismatch for 'stos'"),
        ('string_operands_refused.S', 7, "number of operands mismatch for 'movs'"),
        ('string_operands_refused.S', 8, "operand size mismatch for 'outs'"),
        ('string_operands_refused.S', 9, "operand size mismatch for 'ins'"),
        ('string_operands_refused.S', 10, "'cmps' operand 1 must use '%es' segment"),
    ],
}



def test_corpus_has_at_least_40_malformed_sources():
    assert len(EXPECTED) >= 40
    assert {p.stem for p in CORPUS.glob("*.S")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_source_reports_exact_errors(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SourceError) as info:
        build_file(f"tests/errors/{name}.S")
    got = [(Path(d.loc.file).relative_to("tests/errors").as_posix(), d.loc.line, d.message)
           for d in info.value.diagnostics if d.severity == "error"]
    assert got == EXPECTED[name]


def test_error_in_macro_names_the_expansion(monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SourceError) as info:
        build_file("tests/errors/error_inside_macro.S")
    text = str(info.value)
    assert "tests/errors/error_inside_macro.S:2:5: error: operand size mismatch" in text
    assert "tests/errors/error_inside_macro.S:5: note: in expansion of macro 'bad'" in text


def test_recursive_macro_notes_are_cut_to_both_ends_of_the_chain():
    source = ".code16\n.macro rec\n    rec\n.endm\n    rec\n"
    with pytest.raises(SourceError) as info:
        build_source(source, "rec.s")
    lines = str(info.value).splitlines()
    notes = [line for line in lines if " note: " in line]
    assert lines[0] == "rec.s:3:5: error: macro 'rec' expands too deeply (recursive?)"
    assert notes == ["rec.s:3: note: in expansion of macro 'rec'"] * 5 + [
        "rec.s:3: note: (skipping 90 expansions in backtrace)"] + [
        "rec.s:3: note: in expansion of macro 'rec'"] * 4 + [
        "rec.s:5: note: in expansion of macro 'rec'"]


def test_diagnostic_shows_the_source_line_and_a_caret(monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SourceError) as info:
        build_file("tests/errors/bad_register.S")
    assert str(info.value).splitlines() == [
        "tests/errors/bad_register.S:2:14: error: bad register name '%zx'",
        "     mov %ax, %zx",
        "              ^",
    ]


def test_bytes_that_are_not_utf8_are_shown_as_hex_escapes_under_the_caret(tmp_path):
    src = tmp_path / "latin.S"
    src.write_bytes(b".code16\n    mov \xff\xfe, %ax\n")
    with pytest.raises(SourceError) as info:
        build_file(src)
    assert str(info.value).splitlines() == [
        f"{src}:2:9: error: unexpected character '\\xff' in expression",
        "     mov ??, %ax",
        "         ^"]


@pytest.mark.parametrize("directive", [".comm", ".lcomm"])
def test_common_symbols_are_refused_where_gnu_and_ld_place_them_elsewhere(directive):
    with pytest.raises(SourceError) as info:
        build_source(f".code32\n_start: hlt\n.bss\nb0: .byte 0\n{directive} buf, 16\n", "c.s")
    [error] = info.value.diagnostics
    assert (error.loc.line, error.message.split(":")[0]) == (
        5, f"{directive} is not supported")


def test_a_label_dependent_space_that_comes_out_negative_is_refused():
    # GNU warns and ignores it, but its relaxation then places the branches around it its way
    source = (".code16\n_start:\n    jmp L5\n    .fill 20, 1, 0x90\n"
              "    .space 1 - (. - _start) % 128\nL5:\n")
    with pytest.raises(SourceError) as info:
        build_source(source, "neg.s")
    [error] = info.value.diagnostics
    assert error.loc.line == 5 and "came out negative (-" in error.message


def test_a_size_that_depends_on_itself_is_located():
    # GNU: "Infinite loop encountered whilst attempting to compute the addresses of symbols"
    with pytest.raises(SourceError) as info:
        build_source(".code32\n_start:\n    .space x2 - _start + 1\nx2:\n    hlt\n", "s.s")
    [error] = info.value.diagnostics
    assert (error.loc.line, error.loc.col) == (3, 12) and "does not settle" in error.message


def test_incbin_of_a_directory_says_it_is_a_directory(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(SourceError) as info:
        build_source('.code16\n.incbin "data"\n', str(tmp_path / "d.s"))
    [error] = info.value.diagnostics
    assert error.message == "'data' is a directory, not a file to include"


def test_data_values_warn_only_where_gnu_as_does():
    # GNU's emit_expr: a value fits a byte silently from -255 to 255 (-129 is 0x7f)
    result = build_source(".code16\n    hlt\n    .byte -129, -255, -256, 255, 256\n"
                          "    .word -65535, -65536\n", "data.s")
    assert result.image.flat() == bytes.fromhex("f47f01" "00ff00" "0100" "0000")
    assert [(w.loc.col, w.message) for w in result.warnings] == [
        (23, "value 0xffffffffffffff00 truncated to 0x0"), (34, "value 0x100 truncated to 0x0"),
        (19, "value 0xffffffffffff0000 truncated to 0x0")]


def test_string_operands_in_other_places_are_gnu_warnings_and_gnu_bytes():
    # GNU checks string operands by position (AT&T `cmps` compares %es:(%di) with (%si)):
    # another plain register is a warning, and the bytes are the instruction's own
    source = (".code16\n    movsb (%bx), (%di)\n    cmpsb %es:(%si), (%di)\n"
              "    movsb (%di), %es:(%si)\n    cmpsb (%si), %es:(%di)\n    movsd\n    cmpsd\n")
    result = build_source(source, "strings.s")
    assert result.image.flat() == bytes.fromhex("a4" "a6" "a4" "26a6" "66a5" "66a7")
    assert [(w.loc.line, w.message) for w in result.warnings] == [
        (2, "'(%bx)' is not valid here (expected '(%si)')"),
        (3, "'%es:(%si)' is not valid here (expected '(%di)')"),
        (3, "'(%di)' is not valid here (expected '(%si)')"),
        (4, "'(%di)' is not valid here (expected '(%si)')"),
        (4, "'%es:(%si)' is not valid here (expected '(%di)')"),
        (5, "'(%si)' is not valid here (expected '(%di)')"),
        (5, "'%es:(%di)' is not valid here (expected '(%si)')"),
        (6, "found 'movsd'; assuming 'movsl' was meant"),
        (7, "found 'cmpsd'; assuming 'cmpsl' was meant")]


def test_library_macro_in_a_file_that_is_not_preprocessed_gets_the_hint():
    # in a .s file `#include` is a comment: the macro is unknown, and the hint says why
    with pytest.raises(SourceError) as info:
        build_source("#include <hypercall.h>\n.code16\n    hc_putchar $65\n", "guest.s")
    [error] = info.value.diagnostics
    assert (error.loc.line, error.message.split(":")[0]) == (3, "unknown instruction 'hc_putchar'")
    assert '.include "hypercall.h"' in error.message


def test_a_file_included_twice_in_a_row_is_not_a_cycle(tmp_path):
    (tmp_path / "part.inc").write_text("    nop\n")
    src = tmp_path / "main.s"
    src.write_text('.code16\n.include "part.inc"\n.include "part.inc"\n    hlt\n')
    assert build_file(src).image.flat() == bytes.fromhex("9090f4")


def test_truncated_byte_is_a_warning_not_an_error(tmp_path):
    src = tmp_path / "warn.S"
    src.write_text(".code16\n    hlt\n    .byte 300\n    mov $0x12345, %al\n")
    result = build_file(src)
    assert [(w.loc.line, w.message) for w in result.warnings] == [
        (3, "value 0x12c truncated to 0x2c"), (4, "value 0x12345 truncated to 0x45")]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cli_reports_source_errors_without_traceback(name):
    r = subprocess.run([sys.executable, "-m", "kasm", "build", f"tests/errors/{name}.S",
                        "-o", "/dev/null/never"], capture_output=True, text=True, cwd=ROOT,
                       env={"KASM_NO_CACHE": "1", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    first_file, first_line, first_message = EXPECTED[name][0]
    where = f"tests/errors/{first_file}:{first_line}:" if first_line else \
        f"tests/errors/{first_file}:"
    lines = r.stderr.splitlines()
    # diagnostics, their source lines and carets: nothing else (keystone printed LLVM's own)
    assert all(line.startswith(("tests/errors/", " ", "kasm: ")) for line in lines)
    first_error = next(line for line in lines if ": error: " in line)
    assert first_error.startswith(where)  # (after any warning before it)
    assert first_message in first_error

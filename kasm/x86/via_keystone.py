"""Every instruction kasm does not encode itself: rendered for keystone with each number in
hex (keystone reads plain decimals as hex), its bytes repaired to GNU's.

An operand whose value is not known yet (a label), or that GNU puts in a wider field than
keystone would, is rendered as a placeholder number; encoding it with two placeholders that
differ in every byte shows where its field is.
"""

from __future__ import annotations

from ..diagnostics import AsmError
from ..expr import field_bytes
from ..instruction import Instruction, Operand
from .checks import check_base_index
from .disassembler import Disassembler
from .encoding import Constants, Encoding, Field
from .evex import as_vex, disp8_scale, evex_at, needs_evex
from .keystone import Keystone
from .memory import address_bits, displacement_value, gnu_memory_operands, rip_to_absolute
from .numbers import immediate_value
from .prefixes import merge_prefixes
from .repairs import gnu_bytes, gnu_mnemonic, keystone_bytes

# Placeholder pairs for a label-valued field: every byte differs, none fits a shorter form.
PLACEHOLDERS = {4: (0x12345678, 0x6DCBA987), 2: (0x1234, 0x6DCB), 1: (0x12, 0x6D)}


def encode_via_keystone(insn: Instruction, bits: int, pre: bytes, constants: Constants,
                        ks: Keystone, warnings: list[str], disasm: Disassembler) -> Encoding:
    """The encoding of `insn` (with the prefix bytes `pre` written as mnemonics): its
    operands as GNU reads them, keystone's bytes for them, repaired to GNU's (evex.py)."""
    encoding, _ = _encode(insn, bits, pre, constants, ks, warnings, frozenset())
    at = evex_at(encoding.data, bits)
    if at is None:
        return encoding
    scaled = [i for i, op in enumerate(insn.operands)  # (without a base it is a disp32)
              if op.kind == "mem" and op.base and not op.rip_relative
              and op.disp is not None and constants.value(op.disp, insn.loc)]
    field = None
    if scaled:
        # keystone's EVEX disp8 is wrong (uncompressed, or cut: 0x100 became 0): the
        # displacement as a disp32 instead, compressed below as GNU does
        encoding, places = _encode(insn, bits, pre, constants, ks, [], frozenset(scaled))
        at = evex_at(encoding.data, bits)
        field, width = places.get(scaled[0], (0, 0))
        if at is None or width != 4 or encoding.data[at + 5] >> 6 != 2:
            raise AsmError(f"kasm cannot encode '{insn.mnemonic}' exactly as GNU as does "
                           "(its EVEX displacement); not supported", insn.loc)
    if not needs_evex(encoding.data, at):
        vex = as_vex(encoding.data, at, bits, disasm)
        if vex is not None:
            delta = len(vex) - len(encoding.data)
            encoding = _moved(encoding, vex, at, delta)
            if field is None:
                return encoding
            modrm = at + (2 if vex[at] == 0xC5 else 3) + 1  # after the VEX prefix and opcode
            return _compressed(encoding, modrm, field + delta, 1, 0x40)
    if field is None:
        return encoding
    scale = disp8_scale(encoding.data, at, field, bits, disasm)
    if scale is None:
        raise AsmError(f"kasm cannot encode '{insn.mnemonic}' exactly as GNU as does "
                       "(its EVEX displacement scale); not supported", insn.loc)
    return _compressed(encoding, at + 5, field, scale, 0x40)


def _compressed(encoding: Encoding, modrm: int, field: int, scale: int, disp8_mod: int
                ) -> Encoding:
    """The encoding with the disp32 at `field` a disp8 of disp/scale where that divides and
    fits (ModRM at `modrm` then says mod 01), as GNU writes it."""
    data = encoding.data
    disp = int.from_bytes(data[field:field + 4], "little", signed=True)
    if disp % scale or not -128 <= disp // scale <= 127:
        return encoding
    out = bytearray(data[:field] + bytes([(disp // scale) & 0xFF]) + data[field + 4:])
    out[modrm] = (out[modrm] & 0x3F) | disp8_mod
    return _moved(encoding, bytes(out), field, -3)


def _moved(encoding: Encoding, data: bytes, at: int, delta: int) -> Encoding:
    """`encoding` with its bytes now `data`: fields after `at` moved by `delta` bytes."""
    fields = tuple(f.replace(offset=f.offset + delta) if f.offset > at else f
                   for f in encoding.fields)
    return encoding.replace(data=data, fields=fields)


def _encode(insn: Instruction, bits: int, pre: bytes, constants: Constants, ks: Keystone,
            warnings: list[str], forced: frozenset[int]
            ) -> tuple[Encoding, dict[int, tuple[int, int]]]:
    """The encoding, and where each operand in `forced` (put in at full width, as if its
    value were not known) has its field."""
    check_base_index(insn, bits)
    original = insn.operands
    absolute64: set[int] = set()
    if any(op.kind == "mem" for op in original):
        insn, pre, original, absolute64 = gnu_memory_operands(insn, pre, bits)
    values: list[str | None] = []
    deferred: list[int] = []
    known: dict[int, int] = {}
    for i, op in enumerate(insn.operands):
        disp = op.disp
        if disp is None:
            values.append(None)
            continue
        # a number in `100(%rip)` is the displacement itself, as in GNU; a label is pc-relative
        v = disp[1] if disp[0] == "num" else constants.value(disp, insn.loc)
        full = False
        if v is not None and op.kind == "imm":
            v, full = immediate_value(v, insn, bits, warnings)
        elif v is not None:
            v, full = displacement_value(v, original[i], pre, insn, bits, warnings)
        if v is None or i in absolute64 or full or i in forced:
            # a known value that keystone would encode in another form than GNU's goes in
            # through a placeholder of the field's full width
            deferred.append(i)
            values.append(None)
            if v is not None:
                known[i] = v
        else:
            values.append(hex_text(v))
    mnemonic = gnu_mnemonic(insn, bits, values)
    if not deferred:
        text = render(mnemonic, insn.operands, values)
        code, warning = keystone_bytes(ks, bits, text, insn, mnemonic)
        if warning:
            warnings.append(warning)
        return Encoding(merge_prefixes(pre, gnu_bytes(code, insn, bits))), {}
    code, places = _find_fields(ks, insn, bits, mnemonic, values, deferred, pre, warnings)
    for i, (offset, _) in zip(deferred, list(places), strict=True):
        if i in absolute64:
            code = rip_to_absolute(code, offset)
            places = [(o + (o >= offset), w) for o, w in places]
    merged = merge_prefixes(pre, code)
    start = len(merged) - len(code)  # fields move with the prefixes
    data = bytearray(merged)
    fields = []
    where: dict[int, tuple[int, int]] = {}
    for i, (offset, width) in zip(deferred, places, strict=True):
        at = start + offset
        where[i] = (at, width)
        if i in known:
            data[at:at + width] = field_bytes(known[i], width, True, warnings)
            continue
        rip = insn.operands[i].rip_relative  # a 64-bit absolute address is rendered so too
        fields.append(Field(at, width, i, pcrel=rip and i not in absolute64,
                            signed=True if rip else None))
    return Encoding(bytes(data), tuple(fields)), where


def _find_fields(
    ks: Keystone, insn: Instruction, bits: int, mnemonic: str, values: list[str | None],
    deferred: list[int], pre: bytes, warnings: list[str],
) -> tuple[bytes, list[tuple[int, int]]]:  # fmt: skip
    """Encode with placeholder numbers and find where each deferred field sits: the bytes
    (fields zeroed) and each field's (offset, width)."""
    widths = []
    for i in deferred:
        op = insn.operands[i]
        if op.kind == "mem" and address_bits(op, bits, pre) == 16:
            widths.append((2, 1))
        else:
            widths.append((4, 2, 1))
    last_error: AsmError | None = None
    for choice in _width_choices(widths):
        trial = list(values)
        for i, w in zip(deferred, choice, strict=False):
            trial[i] = hex_text(PLACEHOLDERS[w][0])
        text = render(mnemonic, insn.operands, trial)
        try:
            raw, warning = keystone_bytes(ks, bits, text, insn, mnemonic)
            base_code = gnu_bytes(raw, insn, bits)
        except AsmError as e:
            last_error = e
            continue
        fields = []
        for i, w in zip(deferred, choice, strict=False):
            alt = list(trial)
            alt[i] = hex_text(PLACEHOLDERS[w][1])
            alt_code = gnu_bytes(keystone_bytes(ks, bits, render(mnemonic, insn.operands, alt),
                                                insn, mnemonic)[0], insn, bits)
            diff = [k for k in range(len(base_code)) if base_code[k] != alt_code[k]] \
                if len(alt_code) == len(base_code) else []
            if not diff or diff != list(range(diff[0], diff[-1] + 1)):
                break
            width = len(diff)
            if width == 4 and _is_mov_imm64(base_code, diff[0]):
                width = 8  # the placeholders fill only the low half of an imm64
            fields.append((diff[0], width))
        else:
            if warning:
                warnings.append(warning)
            code = bytearray(base_code)
            for offset, width in fields:
                code[offset:offset + width] = bytes(width)
            return bytes(code), fields
    raise last_error or AsmError(f"cannot encode '{insn.mnemonic}' with a label operand",
                                 insn.loc)


def hex_text(v: int) -> str:
    return f"-0x{-v:x}" if v < 0 else f"0x{v:x}"


def render(mnemonic: str, operands: tuple[Operand, ...], values: list[str | None]) -> str:
    """The instruction for keystone, with `values` (hex text) in place of the expressions."""
    if not operands:
        return mnemonic
    return mnemonic + " " + ", ".join(_operand_text(op, v)
                                      for op, v in zip(operands, values, strict=False))


def _operand_text(op: Operand, value: str | None) -> str:
    star = "*" if op.star else ""
    if op.kind == "reg":
        return star + op.reg
    if op.kind == "imm":
        return f"{star}${value}"
    disp = value if op.disp is not None else ""
    segment = op.segment + ":" if op.segment else ""
    if not op.uses_registers:
        return f"{star}{segment}{disp}"
    base, index = op.base, op.index
    if base == "%bp" and index in ("%si", "%di") and op.scale == 1:
        # keystone gives (%bp,%si) a needless zero disp8 (as if it were plain (%bp));
        # with the index named first it encodes exactly GNU's ModRM
        base, index = index, base
    scale = f",{op.scale}" if op.scale != 1 else ""
    return f"{star}{segment}{disp}({base}{',' + index if index else ''}{scale})"


def _is_mov_imm64(code: bytes, offset: int) -> bool:
    """Whether a field at `offset` starts the imm64 of `movabs $imm, %r64` (REX.W B8+r)."""
    return (offset >= 2 and len(code) == offset + 8 and code[offset - 1] & 0xF8 == 0xB8
            and code[offset - 2] & 0xF8 == 0x48)


def _width_choices(widths: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    choices: list[tuple[int, ...]] = [()]
    for options in widths:
        choices = [c + (w,) for c in choices for w in options]
    return choices

"""The encoder's memory, its only one: an instruction seen before is not encoded again, and
one whose only number is an immediate is made from a template of its shape.

An instruction whose operands hold no symbol has the same encoding every time in a mode
(Instruction.literal_key says what decides it); so has a relative branch, whose target is
never looked at. Most distinct instructions of a big program differ only in an immediate
(`movl $5, %eax`): a template (the bytes before the immediate's field, its width, the bytes
after) is made from the encodings of two values of one class (value_class), the second
flipping every bit free within the class (partner); both must agree on all else
(Template.find). Every step from operands to bytes (GNU's range checks and choices,
keystone's form) depends on the immediate only through its class or the bytes of its field,
so the template holds for every value of the class. A value with a warning (cut to its
field) makes no template; a warning or an error for the partner means no template for the
class, for good; a partner outside the class, not yet.
"""

from __future__ import annotations

from collections.abc import Callable

from ..diagnostics import AsmError
from ..instruction import IMMEDIATE, Instruction
from .branches import is_relative_branch
from .encoding import Encoding

_BRANCH = "branch"  # in a key: the operand is a branch target, whatever it is


class EncodingMemo:
    """One per Encoder: encodings by literal key, templates by shape."""

    def __init__(self) -> None:
        self._encodings: dict[tuple, Encoding] = {}
        self._templates: dict[tuple, Template | None] = {}

    @staticmethod
    def key(insn: Instruction, bits: int) -> tuple | None:
        """What decides the instruction's encoding, or None when a symbol's value may."""
        if insn.literal_key is not None:
            return (bits, insn.literal_key)
        return (bits, insn.prefixes, insn.mnemonic, _BRANCH) if is_relative_branch(insn) \
            else None

    def recall(self, insn: Instruction, bits: int) -> Encoding | None:
        """The encoding of an instruction seen before, or made from its shape's template."""
        literal = insn.literal_key
        if literal is None:
            return self._encodings.get((bits, insn.prefixes, insn.mnemonic, _BRANCH)) \
                if is_relative_branch(insn) else None
        if literal[2]:  # one immediate: its template first
            value = literal[1][0]
            cls = value_class(value)
            if cls is not None:
                template = self._templates.get((bits, literal[0], cls))
                if template is not None:
                    data = template.fill(value, cls)
                    if data is not None:
                        return Encoding(data)
        return self._encodings.get((bits, literal))

    def remember(self, insn: Instruction, bits: int, encoding: Encoding,
                 encode: Callable[[Instruction], Encoding]) -> None:
        """Keep `encoding` if the instruction's key decides it; learn the template of its
        shape if there is one to learn (`encode` encodes another instruction afresh)."""
        key = self.key(insn, bits)
        if key is None:
            return
        self._encodings[key] = encoding
        literal = insn.literal_key
        if literal is None or not literal[2] or encoding.fields or encoding.warnings:
            return
        value = literal[1][0]
        cls = value_class(value)
        shape = (bits, literal[0], cls)
        if cls is None or shape in self._templates:
            return
        other = partner(value, cls)
        if value_class(other) != cls:
            return  # another value of the class may have one
        at = next(i for i, op in enumerate(insn.operands) if op.literal_key == IMMEDIATE)
        operands = list(insn.operands)
        operands[at] = operands[at].replace(disp=("num", other))
        try:
            other_encoding = encode(insn.replace(operands=tuple(operands)))
        except AsmError:
            self._templates[shape] = None
            return
        clean = not (other_encoding.fields or other_encoding.branch is not None
                     or other_encoding.warnings)
        self._templates[shape] = Template.find(
            encoding.data, value, other_encoding.data, other) if clean else None


_MASK16, _MASK32 = (1 << 16) - 1, (1 << 32) - 1


def value_class(value: int) -> int | None:
    """Immediates that keystone (LLVM's x86 matcher) encodes in one form: the same sign and
    bit length, and the same answer to whether the value, cut to 16 or 32 bits, is a
    sign-extended imm8 (isImmSExti16i8 and the like: `addw $0xff80` is an imm8), as one
    number: the bit length, then a bit each for the sign and those two answers. None for
    what a template must not cover: small values, where the special forms are (shift by 1,
    `int $3`, imm8), and values beyond a signed 64-bit number."""
    if -256 <= value <= 256 or not -(1 << 63) <= value < (1 << 63):
        return None
    if value < 0:
        return (~value).bit_length() << 3 | 4
    # beyond -256..256, the values that are a sign-extended imm8 once cut to 16 or 32 bits
    # (cut to 64 bits: only values beyond the range above)
    return value.bit_length() << 3 | (0xFF80 <= value <= _MASK16) << 1 | (
        0xFFFFFF80 <= value <= _MASK32)


def _wrapped(cls: int) -> bool:
    """Whether values of the class are an imm8 once cut to 16 or 32 bits."""
    return bool(cls & 3)


def partner(value: int, cls: int) -> int:
    """The value with every bit flipped that varies within its class (for a template's check):
    all bits below the top one, or for a wrapped imm8 the low seven. It may fall outside the
    class (0x8010's is 0xffef, an imm8 once cut to 16 bits): then it is no use."""
    if _wrapped(cls):
        return value ^ 0x7F
    return value ^ ((1 << ((cls >> 3) - 1)) - 1)


class Template:
    """An instruction's bytes around the field of its immediate: head, field, tail."""

    __slots__ = ("head", "width", "tail", "lo", "hi", "mask")

    def __init__(self, head: bytes, width: int, tail: bytes) -> None:
        self.head, self.width, self.tail = head, width, tail
        bits = 8 * width
        self.lo, self.hi, self.mask = -(1 << (bits - 1)), 1 << bits, (1 << bits) - 1

    @staticmethod
    def find(code: bytes, value: int, other_code: bytes, other: int) -> Template | None:
        """The template from the encodings of an instruction with `value` and with its
        partner `other`: both must be the same bytes around a field that holds exactly the
        value (little-endian). None when they are not."""
        if len(other_code) != len(code):
            return None
        # the partner differs from the value in every bit that varies within the class, so
        # every reading that fits both encodings gives the same bytes for the whole class
        fields = [(at, width) for width in (1, 2, 4, 8) for at in range(len(code) - width + 1)
                  if code[:at] == other_code[:at] and code[at + width:] == other_code[at + width:]
                  and code[at:at + width] == _field_bytes(value, width)
                  and other_code[at:at + width] == _field_bytes(other, width)]
        if not fields or len({at for at, _ in fields}) != 1:
            return None
        at, width = fields[-1]  # the widest: the value must fit it (a cut value is not sure)
        return Template(code[:at], width, code[at + width:])

    def fill(self, value: int, cls: int) -> bytes | None:
        """The bytes for `value` (of class `cls`); None when the value does not fit the
        field: keystone would cut it, and which form it picks then is not sure."""
        if not (self.lo <= value < self.hi or _wrapped(cls)):
            return None
        return self.head + (value & self.mask).to_bytes(self.width, "little") + self.tail


def _field_bytes(value: int, width: int) -> bytes:
    return (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")

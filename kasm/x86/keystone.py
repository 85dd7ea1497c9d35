"""The keystone engine: single instructions in kasm's rendering (hex numbers only, never a
directive, which can crash or hang it), and its errors as GNU-style messages."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

from ..diagnostics import AsmError
from ..instruction import REGISTER_WIDTH, REGISTERS, Instruction

# Mnemonics LLVM's x86 parser reads as prefixes of a following instruction: keystone loops
# forever on one followed by an operand (`rex64 %r8`, `data16 (%eax)`).
KEYSTONE_PREFIXES = frozenset(("lock", "rep", "repe", "repz", "repne", "repnz", "rex64",
                               "data16"))

# Operand shapes tried to learn whether keystone knows a mnemonic, and with how many operands
# (it says "mnemonic failed" both for an unknown name and for operands it does not take)
_PROBES = ("", "%al", "%ax", "%eax", "%rax", "$0x1", "%ax, %bx", "%al, %bl", "%eax, %ebx",
           "%rax, %rbx", "$0x1, %ax", "(%bx)", "(%rax)", "0x10", "%xmm0, %xmm1",
           "$0x1, %al", "%st(1)", "%dx, %al", "%al, %dx", "$0x1, %eax", "%ax, %ds", "%ds",
           "$0x1, %rax", "(%bx), %ax", "(%rax), %rax", "(%rax), %eax", "%ax, (%bx)",
           "(%rax), %xmm0", "%xmm0, (%rax)", "$0x1, $0x1", "$0x1, %ax, %bx",
           "$0x1, %eax, %ebx", "$0x1, %rax, %rbx", "%cl, %ax, %bx", "$0x1, %xmm0, %xmm1",
           "%xmm0, %xmm1, %xmm2")
_SUFFIX_WIDTH = {"b": 8, "w": 16, "l": 32, "q": 64}


class Keystone:
    """One keystone engine per mode. Its answers are remembered: each call costs ~25 us,
    and an operand that is a label is encoded with the same placeholder text every time."""

    # what probing found (facts about keystone, not a program: shared by every build)
    _known: dict[str, bool] = {}  # noqa: RUF012
    _takes: dict[tuple[str, int], bool] = {}  # noqa: RUF012

    def __init__(self) -> None:
        self._engines: dict[int, object] = {}
        self._answers: dict[tuple[int, str], bytes | int] = {}

    def _engine(self, bits: int):  # noqa: ANN202 - keystone has no type stubs
        eng = self._engines.get(bits)
        if eng is None:
            import keystone

            mode = {16: keystone.KS_MODE_16, 32: keystone.KS_MODE_32, 64: keystone.KS_MODE_64}
            eng = keystone.Ks(keystone.KS_ARCH_X86, mode[bits])
            eng.syntax = keystone.KS_OPT_SYNTAX_ATT
            self._engines[bits] = eng
        return eng

    def encode(self, bits: int, text: str, insn: Instruction) -> bytes:
        """The encoding of `text` (kasm's rendering of `insn`), or an AsmError about `insn`."""
        key = (bits, text)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = self._ask(bits, text)
        if isinstance(answer, int) or not answer:
            raise AsmError(self._message(answer, insn, bits, text), insn.loc)
        return answer

    def _ask(self, bits: int, text: str) -> bytes | int:
        """The encoding (empty for keystone's silent failure), or keystone's error number."""
        import keystone

        words = text.split(None, 1)
        if len(words) == 2 and words[0] in KEYSTONE_PREFIXES:
            return keystone.KS_ERR_ASM_INVALIDOPERAND  # keystone would hang (see above)
        engine = self._engine(bits)
        with _stderr_silenced():  # LLVM prints warnings of its own there (`lodsd (%bx)`)
            try:
                encoding, _ = engine.asm(text, 0)
            except keystone.KsError as e:
                return int(e.errno)
        return bytes(encoding or b"")

    def knows_mnemonic(self, mnemonic: str) -> bool:
        """Whether keystone encodes `mnemonic` with any of the probed operand shapes."""
        known = self._known.get(mnemonic)
        if known is None:
            known = self._known[mnemonic] = self._probe(mnemonic, _PROBES)
        return known

    def takes_operands(self, mnemonic: str, count: int) -> bool:
        """Whether keystone encodes `mnemonic` with `count` operands of some probed shape."""
        takes = self._takes.get((mnemonic, count))
        if takes is None:
            shapes = [ops for ops in _PROBES if (ops.count(",") + 1 if ops else 0) == count]
            takes = self._takes[mnemonic, count] = self._probe(mnemonic, shapes)
        return takes

    def _stem(self, mnemonic: str) -> str | None:
        """`push` for `pushb`: a mnemonic keystone knows, and a size suffix after it."""
        stem = mnemonic[:-1]
        # (no x86 mnemonic is one letter, and keystone hangs on an empty one)
        if mnemonic[-1:] in _SUFFIX_WIDTH and len(stem) > 1 and self.knows_mnemonic(stem):
            return stem
        return None

    def _probe(self, mnemonic: str, shapes: Sequence[str]) -> bool:
        return any(_is_encoding(self._ask(bits, f"{mnemonic} {ops}".strip()))
                   for ops in shapes for bits in (16, 64))

    def _message(self, errno: int | bytes, insn: Instruction, bits: int, text: str) -> str:
        """GNU's words for what keystone refused: an unknown name, a suffix the instruction
        does not have, or operands it does not take (in number, size or kind). `text`: what
        keystone refused."""
        import keystone

        mnemonic = insn.mnemonic
        shown = ", ".join(op.text.strip() for op in insn.operands)
        bare = [op.disp[1] for op in insn.operands if op.kind == "mem" and not op.uses_registers
                and op.disp is not None and op.disp[0] == "sym" and f"%{op.disp[1]}" in REGISTERS]
        if bare:
            return (f"register '{bare[0]}' needs a '%' prefix: kasm reads AT&T syntax "
                    f"(write %{bare[0]})")
        if errno == keystone.KS_ERR_ASM_MISSINGFEATURE:
            return f"'{mnemonic} {shown}' is not valid in {bits}-bit mode".replace(" '", "'")
        stem = self._stem(mnemonic)
        if errno == keystone.KS_ERR_ASM_MNEMONICFAIL and not self.knows_mnemonic(mnemonic):
            if stem is not None:
                return f"invalid instruction suffix for '{stem}'"
            return f"unknown instruction '{mnemonic}'"
        if bits != 64 and mnemonic.endswith("q") and _is_encoding(self._ask(64, text)):
            return f"'{mnemonic}' is only supported in 64-bit mode"
        name = stem or mnemonic
        if (self.knows_mnemonic(mnemonic)
                and not self.takes_operands(mnemonic, len(insn.operands))):
            return f"number of operands mismatch for '{name}'"
        widths = {REGISTER_WIDTH[op.reg] for op in insn.operands
                  if op.kind == "reg" and op.reg in REGISTER_WIDTH}
        if len(widths) > 1:
            return f"operand size mismatch for '{mnemonic}'"
        if stem is not None:
            wrong = _register_against_suffix(insn, _SUFFIX_WIDTH[mnemonic[-1]])
            if wrong is not None:
                return wrong
        return f"operand type mismatch for '{name}'"


_devnull: list[int] = []  # one fd for the process, opened on first use


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """File descriptor 2 to /dev/null meanwhile (whatever it is now: pytest moves it)."""
    if not _devnull:
        _devnull.append(os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC))
    try:
        saved = os.dup(2)
    except OSError:  # stderr closed: nothing to silence
        yield
        return
    os.dup2(_devnull[0], 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _register_against_suffix(insn: Instruction, width: int) -> str | None:
    """GNU's message for a general register of another size than the suffix says (the last
    such operand, as GNU checks them from the last)."""
    for op in reversed(insn.operands):
        reg_width = REGISTER_WIDTH.get(op.reg) if op.kind == "reg" else None
        if reg_width is None or reg_width == width:
            continue
        if reg_width == 8 or width == 8:
            return f"'{op.reg}' not allowed with '{insn.mnemonic}'"
        return f"incorrect register '{op.reg}' used with '{insn.mnemonic[-1]}' suffix"
    return None


def _is_encoding(result: bytes | int) -> bool:
    return isinstance(result, bytes) and bool(result)

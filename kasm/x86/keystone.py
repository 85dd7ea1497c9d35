"""The keystone engine: single instructions in kasm's rendering (hex numbers only, never a
directive, which can crash or hang it), and its errors as GNU-style messages."""

from __future__ import annotations

from ..diagnostics import AsmError
from ..instruction import REGISTER_WIDTH, REGISTERS, Instruction

# Mnemonics LLVM's x86 parser reads as prefixes of a following instruction: keystone loops
# forever on one followed by an operand (`rex64 %r8`, `data16 (%eax)`).
KEYSTONE_PREFIXES = frozenset(("lock", "rep", "repe", "repz", "repne", "repnz", "rex64",
                               "data16"))

_PROBES = ("", "%al", "%ax", "%eax", "%rax", "$0x1", "%ax, %bx", "%al, %bl", "%eax, %ebx",
           "%rax, %rbx", "$0x1, %ax", "(%bx)", "(%rax)", "0x10", "%xmm0, %xmm1",
           "$0x1, %al", "%st(1)", "%dx, %al", "%al, %dx", "$0x1, %eax", "%ax, %ds", "%ds",
           "$0x1, %rax")


class Keystone:
    """One keystone engine per mode. Its answers are remembered: each call costs ~25 us,
    and an operand that is a label is encoded with the same placeholder text every time."""

    def __init__(self) -> None:
        self._engines: dict[int, object] = {}
        self._answers: dict[tuple[int, str], bytes | int] = {}
        self._known: dict[str, bool] = {}

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
            raise AsmError(self._message(answer, insn, bits), insn.loc)
        return answer

    def _ask(self, bits: int, text: str) -> bytes | int:
        """The encoding (empty for keystone's silent failure), or keystone's error number."""
        import keystone

        words = text.split(None, 1)
        if len(words) == 2 and words[0] in KEYSTONE_PREFIXES:
            return keystone.KS_ERR_ASM_INVALIDOPERAND  # keystone would hang (see above)
        try:
            encoding, _ = self._engine(bits).asm(text, 0)
        except keystone.KsError as e:
            return int(e.errno)
        return bytes(encoding or b"")

    def knows_mnemonic(self, mnemonic: str) -> bool:
        """Keystone says "mnemonic failed" both for unknown names and for bad operand
        combinations; probing a few operand shapes tells the two apart."""
        known = self._known.get(mnemonic)
        if known is None:
            known = any(_is_encoding(self._ask(bits, f"{mnemonic} {ops}".strip()))
                        for bits in (16, 64) for ops in _PROBES)
            self._known[mnemonic] = known
        return known

    def _message(self, errno: int | bytes, insn: Instruction, bits: int) -> str:
        import keystone

        mnemonic = insn.mnemonic
        shown = ", ".join(op.text.strip() for op in insn.operands)
        bare = [op.disp[1] for op in insn.operands if op.kind == "mem" and not op.uses_registers
                and op.disp is not None and op.disp[0] == "sym" and f"%{op.disp[1]}" in REGISTERS]
        if bare:
            return (f"register '{bare[0]}' needs a '%' prefix: kasm reads AT&T syntax "
                    f"(write %{bare[0]})")
        if errno == keystone.KS_ERR_ASM_MNEMONICFAIL and not self.knows_mnemonic(mnemonic):
            return f"unknown instruction '{mnemonic}'"
        if errno == keystone.KS_ERR_ASM_MISSINGFEATURE:
            return f"'{mnemonic} {shown}' is not valid in {bits}-bit mode".replace(" '", "'")
        widths = {REGISTER_WIDTH[op.reg] for op in insn.operands
                  if op.kind == "reg" and op.reg in REGISTER_WIDTH}
        if len(widths) > 1:
            return f"operand size mismatch for '{mnemonic}'"
        if not shown:
            return f"'{mnemonic}' needs operands"
        return f"invalid operands for '{mnemonic}': {shown}"


def _is_encoding(result: bytes | int) -> bool:
    return isinstance(result, bytes) and bool(result)

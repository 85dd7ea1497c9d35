"""One x86 instruction as text, in AT&T syntax (the syntax kasm's sources use), with capstone.

capstone's import costs ~85 ms, so it is imported on first use: only a trace, a fault report
or `kasm disasm` pays it. Decodings are memoized by mode, address and bytes (a trace of a loop
decodes each instruction once).
"""

from __future__ import annotations

from vmm.vocabulary import CpuMode

MAX_INSTRUCTION = 15
_MEMO_MAX = 1 << 16


class Disassembler:
    def __init__(self) -> None:
        import capstone

        self._engines = {}
        for bits, mode in ((16, capstone.CS_MODE_16), (32, capstone.CS_MODE_32),
                           (64, capstone.CS_MODE_64)):
            engine = capstone.Cs(capstone.CS_ARCH_X86, mode)
            engine.syntax = capstone.CS_OPT_SYNTAX_ATT
            self._engines[bits] = engine
        self._memo: dict[tuple[int, int, bytes], tuple[int, str] | None] = {}

    def one(self, code: bytes, address: int, bits: int) -> tuple[int, str] | None:
        """(size, text) of the instruction at the start of `code`, or None when the bytes are
        no instruction (or too few)."""
        key = (bits, address, code)
        found = self._memo.get(key, False)
        if found is not False:
            return found
        result = None
        for _, size, mnemonic, operands in self._engines[bits].disasm_lite(code, address, 1):
            result = (size, f"{mnemonic} {operands}" if operands else mnemonic)
        if len(self._memo) >= _MEMO_MAX:
            self._memo.clear()
        self._memo[key] = result
        return result

    def all(self, code: bytes, address: int, bits: int) -> list[tuple[int, int, str]]:
        """(address, size, text) for each instruction from the start of `code`; bytes that are
        no instruction end the list."""
        return [(a, size, f"{m} {ops}" if ops else m)
                for a, size, m, ops in self._engines[bits].disasm_lite(code, address)]


_shared: Disassembler | None = None


def disassembler() -> Disassembler:
    """One Disassembler per process (its engines and memo)."""
    global _shared
    if _shared is None:
        _shared = Disassembler()
    return _shared


def mode_bits(mode: CpuMode) -> int:
    """The code width capstone decodes in for a CPU mode: 16, 32 or 64."""
    return mode.width

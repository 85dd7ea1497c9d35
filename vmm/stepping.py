"""What single-stepping needs besides the CPU's own trap: telling that a step was a HLT.

Single-stepping with KVM_SET_GUEST_DEBUG steps over a HLT instead of exiting with
KVM_EXIT_HLT (measured on the test hosts), and unicorn's count-limited run returns alike after
a HLT and after one instruction. So a stepping backend looks at what it just stepped: the
bytes from the old to the new program counter are a HLT (F4, after prefixes only) when the
step ended exactly past them. Then it reports Hlt, as an unstepped run would.
"""

from __future__ import annotations

HLT = 0xF4
LEGACY_PREFIXES = frozenset((0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3))
REX = frozenset(range(0x40, 0x50))
MAX_INSTRUCTION = 15


def stepped_over_hlt(code: bytes, long_mode: bool) -> bool:
    """`code` is the guest's bytes from the old program counter to the new one."""
    if not code or code[-1] != HLT or len(code) > MAX_INSTRUCTION:
        return False
    prefixes = LEGACY_PREFIXES | REX if long_mode else LEGACY_PREFIXES
    return all(b in prefixes for b in code[:-1])

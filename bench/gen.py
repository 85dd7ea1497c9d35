"""Generated assembler sources for the scaling benchmark: a realistic instruction mix."""

from __future__ import annotations

import random

BLOCK_LINES = 11


def generate(lines: int, seed: int = 1) -> str:
    """About `lines` lines of 32-bit code: decimal-immediate movs, adds, a label per block,
    short jumps to neighbouring blocks, long (relaxed) jumps far away, and .data words."""
    rnd = random.Random(seed)
    blocks = max(2, lines // BLOCK_LINES)
    out = [".code32", ".text", ".globl _start", "_start:"]
    for i in range(blocks):
        far = (i + rnd.randrange(blocks // 4 + 1, blocks // 2 + 2)) % blocks
        back = max(i - 1, 0)
        nxt = min(i + 1, blocks - 1)
        out += [
            f"L{i}:",
            f"    movl ${rnd.randrange(1 << 31)}, %eax",
            f"    movb ${rnd.randrange(256)}, %cl",
            f"    addl ${rnd.randrange(-1000, 100000)}, %ebx",
            "    addl %eax, %edx",
            f"    jnz L{back}",
            f"    jmp L{nxt}",
            f"    je L{far}",
            ".data",
            f"    .long {rnd.randrange(1 << 32)}",
            ".text",
        ]
    out.append("    hlt")
    return "\n".join(out) + "\n"

"""The trace row of `make bench`: instructions traced per second to a file, on each backend.

The guest is a countdown loop (`dec %ecx; jnz`: two instructions a round, each changing a
register or the flags), traced by vmm's Tracer to a file on disk, in-process: the figure is
the lines written over the guest's wall time (single steps, register reads, disassembly,
source lookups and the writes).
"""

from __future__ import annotations

import os
from pathlib import Path

LOOP = """\
.code32
.globl _start
_start:
    mov ${rounds}, %ecx
1:  dec %ecx
    jnz 1b
    hlt
"""


def traced_per_second(work: Path, backend: str, instructions: int) -> float:
    import vmm
    from kasm.build import build_source
    from kasm.symbolize import ImageSymbolizer
    from vmm.trace import TraceOptions, Tracer

    src = work / "traceloop.S"
    src.write_text(LOOP.format(rounds=instructions // 2))
    image = build_source(src.read_text(), str(src)).image
    trace = work / f"trace-{backend}.txt"
    with open(trace, "w", buffering=1 << 20) as out, open(os.devnull, "wb") as devnull:
        tracer = Tracer(out, TraceOptions(), ImageSymbolizer(image))
        r = vmm.run_flat(image.flat(), entry=image.entry, mode=image.mode, backend=backend,
                         output=devnull, timeout=600, monitor=tracer)
    if r.end is not vmm.RunEnd.HLT or tracer.written < instructions:
        raise RuntimeError(f"{backend}: traced loop ended {r.end} after {tracer.written} lines")
    return tracer.written / r.stats.guest_wall_s

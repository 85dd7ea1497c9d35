"""The backend rows of `make bench`: the unicorn emulator against KVM in the same run.

Three figures: the cost of one exit (hc_putchar in a loop), a compute-bound guest
(examples/protected/sieve.S: PVM's KVM emulates ring-0 code at ~1 us an instruction, so both
backends sieve the same smaller range and the emulator's full million is reported beside it),
and `kasm run examples/multiplication.S` end to end (warm cache) with each backend.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIEVE = ROOT / "examples" / "protected" / "sieve.S"


def exit_cost_us(data: bytes, entry: int, exits: int, backend: str) -> float:
    import vmm

    with open(os.devnull, "wb") as devnull:
        r = vmm.run_flat(data, base=0x1000, entry=entry, mode=vmm.BootMode.REAL,
                         output=devnull, timeout=300, backend=backend)
    if r.end is not vmm.RunEnd.HC_EXIT or r.stats.total_exits != exits:
        raise RuntimeError(f"{backend}: exit-cost guest ended {r.end} after "
                           f"{r.stats.total_exits} exits")
    return r.stats.us_per_exit


def sieve_s(backend: str, limit: int) -> float:
    """Guest wall time of the sieve below `limit` (the run's own figure: no start-up)."""
    import vmm
    from kasm.build import build_source

    image = build_source(SIEVE.read_text(), str(SIEVE), defines={"LIMIT": str(limit)}).image
    out = io.BytesIO()
    r = vmm.run_flat(image.flat(), base=0x1000, entry=image.entry, mode=image.mode,
                     output=out, timeout=600, backend=backend)
    if r.end is not vmm.RunEnd.HC_EXIT or not out.getvalue().startswith(b"primes below"):
        raise RuntimeError(f"{backend}: sieve ended {r.end}: {out.getvalue()!r}")
    return r.stats.guest_wall_s


def kasm_run_s(kasm: list[str], backend: str, env: dict[str, str], repeat: int) -> float:
    cmd = [*kasm, "run", "--backend", backend, str(ROOT / "examples" / "multiplication.S")]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)  # warm the cache
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)

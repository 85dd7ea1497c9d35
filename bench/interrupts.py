"""The interrupt rows of `make bench`: how true the timer is, and what a guest sleeping in HLT
costs the host.

- Timer: examples/irq/ticks.S counts 10 ticks of a 100 Hz PIT; the 10th comes 100 ms after
  the timer was programmed, so its guest wall time against 100 ms is the timer's accuracy (set
  up and exit included).
- Idle: examples/irq/uart_echo.S sleeps in HLT waiting for input that comes after `seconds`;
  the host CPU it uses (kasm's user + system time, less that of the same run with the input
  there at once) per second of waiting, against examples/io/echo.S blocked in HC_GETCHAR.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = ROOT / "examples" / "irq" / "ticks.S"
TICKS_IDEAL_S = 0.100


def ticks_s(kasm: list[str], backend: str, env: dict[str, str]) -> float:
    """Guest wall time of ticks.S (from its --stats-json)."""
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        subprocess.run([*kasm, "run", "--backend", backend, "--stats-json", str(stats),
                        str(TICKS)], check=True, stdout=subprocess.DEVNULL, env=env)
        data = json.loads(stats.read_text())
    if data["interrupts_by_irq"] != {"0": 10}:
        raise RuntimeError(f"ticks.S took {data['interrupts_by_irq']} interrupts")
    return data["guest_wall_s"]


def cpu_s(cmd: list[str], env: dict[str, str], input_after: float) -> float:
    """Host CPU seconds (user + system) of `cmd`, whose stdin gets a line after
    `input_after` seconds and then ends."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(cmd, stdin=read_end, stdout=subprocess.DEVNULL, env=env)
        os.close(read_end)
        time.sleep(input_after)
        os.write(write_end, b"bench\n")
    finally:
        os.close(write_end)
    if proc.wait(60) != 0:
        raise RuntimeError(f"{cmd} failed")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def idle_ms_per_s(kasm: list[str], example: str, env: dict[str, str], seconds: float,
                  repeat: int) -> float:
    """CPU milliseconds a second that `example` costs while it waits for input."""
    cmd = [*kasm, "run", str(ROOT / "examples" / example)]
    subprocess.run(cmd, input=b"x\n", check=True, stdout=subprocess.DEVNULL, env=env)  # cache
    waits, busies = [], []
    for _ in range(repeat):
        waits.append(cpu_s(cmd, env, seconds))
        busies.append(cpu_s(cmd, env, 0))
    return max(0.0, statistics.median(waits) - statistics.median(busies)) / seconds * 1e3

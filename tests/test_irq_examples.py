"""The interrupt examples (examples/irq/) end to end through `kasm run` on both backends: exact
stdout, exit status and the statistics that show what the interrupts did."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {"KASM_NO_CACHE": "1", "PATH": "/usr/bin:/bin"}
TASKS = b"".join(f"task {t}: line {n}\n".encode() for n in (1, 2, 3) for t in "AB") + \
    b"both tasks are done\n"


def kasm_run(name: str, backend: str, tmp_path: Path, stdin: bytes | int = b"",
             timeout: float = 60) -> tuple[int, bytes, dict]:
    stats = tmp_path / "stats.json"
    args = [sys.executable, "-m", "kasm", "run", "--backend", backend, "--stats-json",
            str(stats), f"examples/irq/{name}"]
    kw: dict = {"capture_output": True, "timeout": timeout, "cwd": ROOT, "env": ENV}
    if isinstance(stdin, bytes):
        kw["input"] = stdin
    else:
        kw["stdin"] = stdin
    r = subprocess.run(args, **kw)
    assert r.stderr == b"", r.stderr.decode()
    return r.returncode, r.stdout, json.loads(stats.read_text())


def other_exits(stats: dict, *expected: str) -> dict[str, int]:
    """Exit reasons beyond `expected`: only those timing makes (kicks, interrupt windows)."""
    return {k: n for k, n in stats["exits_by_reason"].items() if k not in expected}


def test_ticks_counts_ten_ticks_of_a_100_hz_timer(backend: str, tmp_path: Path) -> None:
    code, out, stats = kasm_run("ticks.S", backend, tmp_path)
    assert (code, out) == (0, b"..........\n10 ticks\n")
    assert stats["interrupts_by_irq"] == {"0": 10}
    # PIT 3, PIC 10 (ICW1-4 twice, OCW1 twice), 10 EOIs, IRQ0 masked at the last tick;
    # hypercalls: a dot a tick, the newline, the number, the text, the exit
    assert stats["exits_by_port"] == {"0x20": 11, "0x21": 5, "0x40": 2, "0x43": 1,
                                      "0xa0": 1, "0xa1": 4, "0x500": 14}
    assert 1 <= stats["exits_by_reason"]["hlt"] <= 10
    assert set(other_exits(stats, "io", "hlt")) <= {"intr", "irq_window_open"}
    assert stats["guest_wall_s"] >= 0.099  # real time: the 10th tick comes at 100 ms
    assert stats["completed_by_vmm"] == {}


def test_uart_echo_echoes_stdin_from_its_interrupt_handler(backend: str,
                                                           tmp_path: Path) -> None:
    code, out, stats = kasm_run("uart_echo.S", backend, tmp_path, b"hello, world\n")
    assert (code, out) == (0, b"hello, world\n")
    assert stats["interrupts_by_irq"]["4"] >= 1
    ports = stats["exits_by_port"]
    assert ports["0x3f8"] == 2 * 13  # each byte: RBR read, THR write
    assert ports["0x3fd"] == 1  # LSR: read once, for the break at the end
    assert ports["0x3fa"] == 13 + 1 + stats["interrupts_by_irq"]["4"]  # IIR: a byte, the
    # break, and the last look of each interrupt


def test_uart_echo_sleeps_instead_of_polling_while_input_is_late(backend: str,
                                                                 tmp_path: Path) -> None:
    """Half a second without input costs no exits: the guest is in HLT, not polling LSR."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "kasm", "run", "--backend", backend, "--stats-json",
             str(tmp_path / "s.json"), "examples/irq/uart_echo.S"],
            stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=ENV)
        os.close(read_end)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        # echoed while the guest sleeps: the output is shown before HLT waits
        assert ready and os.read(proc.stdout.fileno(), 16) == b"ab"
        time.sleep(0.5)
        os.write(write_end, b"cd\n")
    finally:
        os.close(write_end)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (0, b"cd\n", b"")
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["guest_wall_s"] >= 0.5
    interrupts = stats["interrupts_by_irq"]["4"]
    assert 2 <= interrupts <= 6  # the bytes came in two bursts, and the end after them
    assert stats["exits_by_reason"]["hlt"] <= interrupts
    # setup 12, per byte 3, per interrupt 3 (IIR, EOI, the HLT before it), break 2, exit 1;
    # a guest polling LSR makes an exit every few microseconds it waits
    assert stats["total_exits"] <= 12 + 3 * 5 + 3 * interrupts + 2 + 1 + 4


def test_tasks_alternate_under_the_timer(backend: str, tmp_path: Path) -> None:
    code, out, stats = kasm_run("tasks.S", backend, tmp_path)
    assert (code, out) == (0, TASKS)
    ticks = stats["interrupts_by_irq"]["0"]
    assert ticks >= 5  # every line but the first waits for a task switch
    assert stats["exits_by_port"]["0x20"] == 1 + ticks  # ICW1, then an EOI a tick
    iret = stats["completed_by_vmm"].get("iret", 0)
    assert iret in ((0, ticks) if backend == "kvm" else (0,))  # ticks on PVM's KVM


@pytest.mark.parametrize(("mode", "completed"), [("real", 0), ("protected", 1), ("long", 0)])
def test_a_divide_error_is_caught_by_the_guests_handler(backend: str, tmp_path: Path,
                                                        mode: str, completed: int) -> None:
    code, out, stats = kasm_run(f"exception_{mode}.S", backend, tmp_path)
    assert code == 0
    assert out == (f"{mode} mode: dividing 7 by 0\ncaught exception 0 (divide error), "
                   "skipping the div\nresumed after the division\n").encode()
    iret = stats["completed_by_vmm"].get("iret", 0)
    assert iret in ((0, completed) if backend == "kvm" else (0,))  # 1 on PVM's KVM
    assert stats["exits_by_reason"] == {"io": 6, **({"internal_error": 1} if iret else {})}
    assert stats["interrupts_by_irq"] == {}


def test_every_irq_example_is_covered() -> None:
    found = {p.name for p in (ROOT / "examples" / "irq").glob("*.S")}
    assert found == {"ticks.S", "uart_echo.S", "tasks.S", "exception_real.S",
                     "exception_protected.S", "exception_long.S"}

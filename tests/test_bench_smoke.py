"""`bench/run.py --smoke` keeps working (CI runs no real benchmark): it runs and writes every
row to its JSON. No timing is asserted here; performance is judged by `make bench` only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = {"build_small", "exit_cost", "smp", "emu_smp", "e2e_cold", "e2e_warm", "help",
        "scale_growth", "scale_vs_gnu", "qemu_warm", "qemu_cold", "emu_exit_cost", "emu_sieve",
        "emu_e2e", "trace_kvm", "trace_emu", "irq_ticks_kvm", "irq_ticks_emu", "irq_idle"}


def test_bench_smoke_writes_every_row(tmp_path: Path, kvm_device: str, binutils: None,
                                      c_compiler: None) -> None:
    out = tmp_path / "results.json"
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--json",
                        str(out)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    data = json.loads(out.read_text())
    assert data["smoke"] is True
    assert {r["id"] for r in data["rows"]} == ROWS
    for r in data["rows"]:
        assert r["verdict"] in ("pass", "FAIL", "skip")
        assert r["figure"] in p.stdout
    assert data["warm_path"]["heavy_imports_on_hit"] == []

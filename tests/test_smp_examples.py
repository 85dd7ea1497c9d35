"""The examples for several vCPUs and `--cpus`, end to end through `python -m kasm run` on real
KVM: output exact for any scheduling, exit codes, statistics per vCPU and in total."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TABLE = "".join(f"{a} x {b} = {a * b}\n" for a in range(2, 10) for b in range(1, 10)).encode()
CPUS = (1, 2, 4)


def kasm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kasm", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60, cwd=ROOT,
                          env={"KASM_NO_CACHE": "1", "PATH": "/usr/bin:/bin"})


def hello(n: int) -> list[bytes]:
    return [f"Hello from vCPU {i} of {n}\n".encode() for i in range(n)]


# example: (stdout for n vCPUs, hypercalls beyond HC_CPU_ID (one a vCPU), sort the lines?)
EXPECTED = {
    "hello.S": (lambda n: b"".join(hello(n)), lambda n: n, True),
    "counter.S": (lambda n: f"cpus {n}, adds 1000 each: counter {1000 * n}, "
                            f"guarded {1000 * n}\n".encode(), lambda n: 9, False),
    "table.S": (lambda n: TABLE, lambda n: 8, False),
}


def test_every_smp_example_is_covered():
    assert {p.name for p in (EXAMPLES / "smp").glob("*.S")} == set(EXPECTED)


@pytest.mark.parametrize("cpus", CPUS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_smp_example_prints_exactly_and_counts_each_vcpu(name, cpus, kvm_device, tmp_path):
    stdout, printing, any_order = EXPECTED[name]
    stats_file = tmp_path / "stats.json"
    r = kasm("run", "--cpus", str(cpus), "--stats-json", str(stats_file), f"examples/smp/{name}")
    assert r.returncode == 0, r.stderr.decode()
    if any_order:  # whole lines, one per vCPU, in any order
        assert sorted(r.stdout.splitlines(keepends=True)) == sorted(stdout(cpus).splitlines(
            keepends=True))
    else:
        assert r.stdout == stdout(cpus)
    stats = json.loads(stats_file.read_text())
    io = cpus + printing(cpus)
    assert (stats["cpus"], stats["end"], stats["total_exits"]) == (cpus, "hlt", io + cpus)
    assert stats["exits_by_reason"] == {"io": io, "hlt": cpus}
    assert stats["exits_by_port"] == {"0x500": io}
    assert [v["id"] for v in stats["vcpus"]] == list(range(cpus))
    assert {v["end"] for v in stats["vcpus"]} == {"hlt"}
    assert sum(v["total_exits"] for v in stats["vcpus"]) == stats["total_exits"]


def test_one_vcpu_table_is_the_plain_table():
    plain = kasm("run", "examples/multiplication.S")
    assert kasm("run", "examples/smp/table.S").stdout == plain.stdout == TABLE


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_cpus_below_one_is_a_usage_error(value, tmp_path):
    r = kasm("run", "--cpus", value, "examples/smp/hello.S")
    assert r.returncode == 2 and b"--cpus" in r.stderr and b"Traceback" not in r.stderr


def test_cpus_beyond_what_kvm_allows_is_a_one_line_usage_error(kvm_device):
    r = kasm("run", "--cpus", "100000", "examples/smp/hello.S")
    assert r.returncode == 2 and r.stdout == b""
    (error,) = [line for line in r.stderr.decode().splitlines() if "Error" in line]
    assert error.startswith("Error: Invalid value for '--cpus': 100000: the kvm backend runs "
                            "at most ")


def test_cpus_beyond_what_kvm_recommends_is_a_one_line_warning(kvm_device):
    r = kasm("run", "--cpus", "3", "examples/smp/hello.S")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3
    assert r.stderr.decode().startswith("kasm: warning: 3 vCPUs, but kvm recommends at most ")
    assert len(r.stderr.splitlines()) == 1


def test_stats_text_gives_the_totals_then_each_vcpu(kvm_device):
    r = kasm("run", "--cpus", "2", "--stats", "examples/smp/table.S")
    lines = r.stderr.decode().splitlines()
    assert lines[:4] == ["end: hlt", "backend: kvm", "cpus: 2", "exits: 12 (hlt 2, io 10)"]
    assert lines[-2:] == ["vCPU 0: end hlt, exits 6 (hlt 1, io 5), by port 0x500 5",
                          "vCPU 1: end hlt, exits 6 (hlt 1, io 5), by port 0x500 5"]


def test_python_m_vmm_runs_several_vcpus(kvm_device, tmp_path):
    image = tmp_path / "hello.bin"
    assert kasm("build", "examples/smp/hello.S", "-o", str(image)).returncode == 0
    r = subprocess.run([sys.executable, "-m", "vmm", "--cpus", "2", str(image)],
                       capture_output=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and sorted(r.stdout.splitlines(keepends=True)) == hello(2)

"""The examples for several vCPUs and `--cpus`, end to end through `python -m kasm run` on real
KVM: output exact for any scheduling, exit codes, statistics per vCPU and in total; and the same
examples on the emulator, where the vCPUs take turns, give exactly what they give on KVM."""

from __future__ import annotations

import io
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



def run_in_process(name: str, cpus: int, backend: str) -> tuple[bytes, int, dict]:
    import vmm
    from kasm.build import build_source

    path = EXAMPLES / "smp" / name
    image = build_source(path.read_text(), str(path)).image
    out = io.BytesIO()
    r = vmm.run_flat(image.flat(), base=0x1000, entry=image.entry, mode=image.mode,
                     output=out, backend=backend, cpus=cpus, timeout=30)
    stats = r.stats.to_dict()
    for varies in ("guest_wall_s", "us_per_exit", "backend"):
        del stats[varies]
    return out.getvalue(), r.exit_code, stats


@pytest.mark.parametrize("cpus", (2, 4))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_smp_example_gives_the_same_on_the_emulator_as_on_kvm(name, cpus, kvm_device):
    """Output, exit code, end and every exit count, in total and per vCPU: these examples
    exit only for hypercalls and HLT, so how the vCPUs interleave changes no count."""
    pytest.importorskip("unicorn")
    kvm = run_in_process(name, cpus, "kvm")
    emu = run_in_process(name, cpus, "emu")
    stdout, _, any_order = EXPECTED[name]
    if any_order:  # hello.S: the lines in whatever order the vCPUs printed them
        kvm, emu = [(b"".join(sorted(out.splitlines(keepends=True))), *rest)
                    for out, *rest in (kvm, emu)]
    assert emu == kvm
    assert emu[:2] == (b"".join(sorted(stdout(cpus).splitlines(keepends=True)))
                       if any_order else stdout(cpus), 0)


@pytest.mark.parametrize("cpus", ("17", "100000"))
def test_cpus_beyond_what_the_emulator_runs_is_a_one_line_usage_error(cpus):
    pytest.importorskip("unicorn")
    r = kasm("run", "--backend", "emu", "--cpus", cpus, "examples/smp/hello.S")
    assert r.returncode == 2 and r.stdout == b""
    (error,) = [line for line in r.stderr.decode().splitlines() if "Error" in line]
    assert error.startswith(f"Error: Invalid value for '--cpus': {cpus}: the emu backend runs "
                            "at most 16 vCPUs")


def test_sixteen_emulated_vcpus_say_hello_without_a_warning():
    pytest.importorskip("unicorn")
    r = kasm("run", "--backend", "emu", "--cpus", "16", "examples/smp/hello.S")
    assert (r.returncode, r.stderr) == (0, b"")
    assert sorted(r.stdout.splitlines(keepends=True)) == sorted(hello(16))


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

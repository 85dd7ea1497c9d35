"""The protected-mode, long-mode and mode-switching examples and the batched times table, end to
end through `python -m kasm run` on real KVM: exact stdout bytes and exact VM exit counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

TABLE = "".join(f"{a} x {b} = {a * b}\n" for a in range(2, 10) for b in range(1, 10)).encode()


def hc(n: int) -> tuple[dict, dict]:
    """exits_by_reason and exits_by_port of a guest that makes n hypercalls and nothing else."""
    return {"io": n}, {"0x500": n}


# example: (extra run options, stdout, total exits, exits by reason, exits by port, end)
EXPECTED = {
    "protected/hello.S": ((), b"Hello from 32-bit protected mode!\n", 35,
                          {"io": 34, "hlt": 1}, {"0x3f8": 34}, "hlt"),
    "protected/multiplication.S": ((), TABLE, 721, *hc(721), "hc_exit"),
    "protected/highmem.S": (
        ("--mem", "64M"),
        b"16 MiB: 1024 dwords at 16777216, sum 523776, last at 16781308\n",
        8, *hc(8), "hc_exit"),
    "long/hello.S": ((), b"Hello from 64-bit long mode!\nrsp = 2064384\n", 5, *hc(5), "hc_exit"),
    "long/multiplication.S": ((), TABLE, 721, *hc(721), "hc_exit"),
    "long/highmem.S": (("--mem", "5G"), b"4 GiB: 512 qwords at 4294967296, sum 2199024302080\n",
                       6, *hc(6), "hc_exit"),
    "switch/real_to_long.S": (
        (), b"real mode: 65535\nprotected mode: 4294967295\nlong mode: 18446744073709551615\n",
        10, *hc(10), "hc_exit"),
    "multiplication_batched.S": ((), TABLE, 2, *hc(2), "hc_exit"),
    # a million takes PVM's KVM ~12 s (ring-0 code emulated): 100,000 on both backends here,
    # the million on the emulator in its own test
    "protected/sieve.S": (("-D", "LIMIT=100000"), b"primes below 100000: 9592\n", 6, *hc(6),
                          "hc_exit"),
}


def kasm(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kasm", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout, cwd=ROOT,
                          env={"KASM_NO_CACHE": "1", "PATH": "/usr/bin:/bin"})


def run_with_stats(tmp_path: Path, name: str, *options: str) -> tuple[bytes, dict]:
    stats = tmp_path / "stats.json"
    r = kasm("run", *options, "--stats-json", str(stats), f"examples/{name}")
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout, json.loads(stats.read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_prints_exactly_and_exits_as_counted(name, backend, tmp_path):
    options, stdout, total, by_reason, by_port, end = EXPECTED[name]
    out, stats = run_with_stats(tmp_path, name, *options, "--backend", backend)
    assert out == stdout
    assert stats["total_exits"] == total
    assert stats["exits_by_reason"] == by_reason
    assert stats["exits_by_port"] == by_port
    assert stats["end"] == end and stats["backend"] == backend


def test_sieve_counts_the_78498_primes_below_a_million_on_the_emulator(tmp_path):
    out, stats = run_with_stats(tmp_path, "protected/sieve.S", "--backend", "emu")
    assert out == b"primes below 1000000: 78498\n"
    assert (stats["total_exits"], stats["end"]) == (6, "hc_exit")


def test_every_example_in_these_directories_is_covered():
    found = {str(p.relative_to(EXAMPLES)) for d in ("protected", "long", "switch")
             for p in (EXAMPLES / d).glob("*.S")}
    assert found | {"multiplication_batched.S"} == set(EXPECTED)


def test_batched_table_is_byte_identical_to_the_plain_one_in_at_most_20_exits(runs_guests,
                                                                               tmp_path):
    plain, plain_stats = run_with_stats(tmp_path, "multiplication.S")
    batched, batched_stats = run_with_stats(tmp_path, "multiplication_batched.S")
    assert batched == plain == TABLE
    assert plain_stats["total_exits"] == 721
    assert batched_stats["total_exits"] <= 20


@pytest.mark.parametrize("mode", ["protected", "long"])
def test_mode_tables_match_the_real_mode_table(mode, runs_guests, tmp_path):
    real, _ = run_with_stats(tmp_path, "multiplication.S")
    other, _ = run_with_stats(tmp_path, f"{mode}/multiplication.S")
    assert other == real


@pytest.mark.parametrize(("name", "mode"), [("protected/hello.S", "protected"),
                                            ("long/hello.S", "long"),
                                            ("switch/real_to_long.S", "real")])
def test_boot_mode_comes_from_the_first_code_directive(name, mode, runs_guests):
    """The explicit --mode the source implies changes nothing."""
    implied = kasm("run", f"examples/{name}")
    explicit = kasm("run", "--mode", mode, f"examples/{name}")
    assert implied.returncode == explicit.returncode == 0
    assert implied.stdout == explicit.stdout and implied.stdout


def test_highmem_needs_the_memory_it_asks_for(runs_guests):
    """With the default 2 MiB the write to 16 MiB is outside RAM: a guest fault, not output."""
    r = kasm("run", "examples/protected/highmem.S")
    assert r.returncode == 120  # guest fault
    assert r.stdout == b""
    assert b"0x1000000" in r.stderr and b"not RAM" in r.stderr

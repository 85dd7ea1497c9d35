"""The seed report's five guests, end to end through `kasm run` on real KVM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

TABLE = "".join(f"{a} x {b} = {a * b}\n" for a in range(2, 10) for b in range(1, 10))

# guest: (stdout, total exits, exits by reason, exits by port, end)
EXPECTED = {
    "minimal.S": (b"", 1, {"hlt": 1}, {}, "hlt"),
    "hello.S": (b"Hello, KVM!\n", 13, {"io": 12, "hlt": 1}, {"0x3f8": 12}, "hlt"),
    "counter.S": (b"0123456789", 11, {"io": 10, "hlt": 1}, {"0x3f8": 10}, "hlt"),
    "hctest.S": (b"Hello!\n42\n1234\n", 12, {"io": 11, "hlt": 1}, {"0x500": 11}, "hlt"),
    "multiplication.S": (TABLE.encode(), 721, {"io": 721}, {"0x500": 721}, "hc_exit"),
}


def kasm(*args: str, stdin: bytes = b"", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kasm", *args], input=stdin,
                          capture_output=True, timeout=timeout, cwd=ROOT,
                          env={"KASM_NO_CACHE": "1", "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_guest_prints_exactly_and_exits_as_counted(name, backend, tmp_path):
    stdout, total, by_reason, by_port, end = EXPECTED[name]
    stats = tmp_path / "stats.json"
    r = kasm("run", f"examples/{name}", "--stats-json", str(stats), "--backend", backend)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == stdout
    data = json.loads(stats.read_text())
    assert data["total_exits"] == total
    assert data["exits_by_reason"] == by_reason
    assert data["exits_by_port"] == by_port
    assert data["end"] == end and data["backend"] == backend
    assert data["guest_wall_s"] > 0 and data["us_per_exit"] > 0


def test_multiplication_table_has_72_lines(runs_guests):
    r = kasm("run", "examples/multiplication.S")
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 72
    assert lines[0] == "2 x 1 = 2" and lines[-1] == "9 x 9 = 81"


def test_stats_go_to_stderr_after_the_output(runs_guests):
    r = kasm("run", "--stats", "examples/hello.S")
    assert r.stdout == b"Hello, KVM!\n"
    err = r.stderr.decode()
    assert "exits: 13" in err and "0x3f8 12" in err and "us/exit" in err


def test_hc_exit_status_becomes_the_exit_code(runs_guests, tmp_path):
    src = tmp_path / "status.S"
    src.write_text("#include <hypercall.h>\n.code16\n_start:\n    hc_exit $42\n")
    r = kasm("run", str(src))
    assert r.returncode == 42, r.stderr.decode()


def test_flat_image_and_elf_from_kasm_build_run_like_the_source(runs_guests, tmp_path):
    out = tmp_path / "hello.bin"
    r = kasm("build", "examples/hello.S", "-o", str(out))
    assert r.returncode == 0, r.stderr.decode()
    assert out.exists() and out.with_suffix(".elf").exists()
    assert kasm("run", str(out)).stdout == b"Hello, KVM!\n"
    assert kasm("run", str(out.with_suffix(".elf"))).stdout == b"Hello, KVM!\n"


def test_build_map_lists_sections_and_symbols(tmp_path):
    r = kasm("build", "examples/hello.S", "-o", str(tmp_path / "h.bin"), "--map")
    assert r.returncode == 0, r.stderr.decode()
    text = r.stdout.decode()
    assert ".text" in text and ".rodata" in text
    assert "0x00001000" in text and "_start" in text and "message" in text


def test_base_option_moves_the_image(runs_guests, tmp_path):
    r = kasm("build", "examples/hello.S", "--base", "0x7c00", "-o", str(tmp_path / "h.bin"),
             "--map")
    assert "0x00007c00" in r.stdout.decode()
    assert kasm("run", "--base", "0x7c00", "examples/hello.S").stdout == b"Hello, KVM!\n"


def test_python_m_kasm_and_help_work():
    r = kasm("--help")
    assert r.returncode == 0 and b"build" in r.stdout and b"run" in r.stdout


def test_hc_print_prints_string_constants_in_one_exit_each(runs_guests, tmp_path):
    src = tmp_path / "print.S"
    src.write_text('#include <hypercall.h>\n.code16\n_start:\n    hc_print "Hello, "\n'
                   '    hc_print "world, 100%\\n"\n    hc_exit\n')
    stats = tmp_path / "s.json"
    r = kasm("run", str(src), "--stats-json", str(stats))
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"Hello, world, 100%\n"
    assert json.loads(stats.read_text())["total_exits"] == 3


def test_alignment_padding_in_64bit_code_preserves_registers(runs_guests, tmp_path):
    src = tmp_path / "pad64.S"
    src.write_text("#include <hypercall.h>\n.code64\n_start:\n    movabsq $0x100000005, %rsi\n"
                   "    nop\n    .p2align 3\n    movq %rsi, %rbx\n    hc_call HC_PUTNUM\n"
                   "    hlt\n")
    assert kasm("run", str(src)).stdout == b"4294967301"

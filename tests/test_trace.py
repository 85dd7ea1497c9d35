"""kasm run --trace / --trace-exits / the limits, on both backends: a traced run ends exactly
as an untraced one, the lines say what each instruction was and did, in every mode and across
a guest's own mode switches; bad trace options are one-line usage errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TRACED_EXAMPLES = ["hello.S", "hctest.S", "counter.S", "multiplication.S",
                   "protected/hello.S", "long/hello.S", "switch/real_to_long.S"]
INPUT = {"io/sum.S": b"12 34\n"}


def kasm(*args: str, stdin: bytes = b"", cwd: Path = ROOT / "examples"
         ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kasm", *args], input=stdin, cwd=cwd,
                          capture_output=True, timeout=300)


def ended(result: subprocess.CompletedProcess, stats: Path) -> tuple:
    d = json.loads(stats.read_text())
    return (result.returncode, result.stdout, d["end"], d["total_exits"],
            d["exits_by_port"], d["exits_by_reason"])


@pytest.mark.parametrize("example", [*TRACED_EXAMPLES, *INPUT])
def test_a_traced_run_ends_as_an_untraced_one(backend: str, example: str, tmp_path: Path):
    stdin = INPUT.get(example, b"")
    plain = kasm("run", "--backend", backend, "--stats-json", str(tmp_path / "a.json"),
                 example, stdin=stdin)
    trace = tmp_path / "trace.txt"
    traced = kasm("run", "--backend", backend, f"--trace={trace}", "--trace-exits",
                  "--stats-json", str(tmp_path / "b.json"), example, stdin=stdin)
    assert ended(traced, tmp_path / "b.json") == ended(plain, tmp_path / "a.json")
    assert traced.stderr == plain.stderr == b""
    lines = trace.read_text().splitlines()
    exits = [ln for ln in lines if ln.startswith("exit ")]
    assert len(exits) == json.loads((tmp_path / "a.json").read_text())["total_exits"]
    assert lines[-1].startswith("end   ")


def test_trace_lines_name_address_bytes_disassembly_changes_and_source(backend: str):
    r = kasm("run", "--backend", backend, "--trace", "hello.S")
    lines = r.stderr.decode().splitlines()
    assert r.returncode == 0 and r.stdout == b"Hello, KVM!\n"
    assert re.fullmatch(r"0000:1000  be 0f 10 +movw \$0x100f, %si +si=100f +"
                        r"hello\.S:6  mov \$message, %si", lines[0])
    assert re.fullmatch(r"0000:1003  ac +lodsb \(%si\), %al +al=48 si=1010 +hello\.S:8  "
                        r"lodsb +# AL = \[DS:SI\], SI\+\+", lines[1])
    assert lines[-1].startswith("0000:100e  f4") and lines[-1].endswith("hello.S:15  hlt")
    assert len(lines) == 1 + 12 * 6 + 4  # mov, lodsb..jmp for 12 bytes, the last round


def test_an_iret_the_vmm_completes_is_traced_once_with_its_changes(backend: str):
    """KVM here gives up on a protected-mode iret and the VMM completes it (vmm.completion):
    its line comes once, with what it changed, followed by the instruction it returned to."""
    r = kasm("run", "--backend", backend, "--trace", "--trace-exits", "irq/tasks.S")
    assert r.returncode == 0
    lines = [ln for ln in r.stderr.decode().splitlines() if not ln.startswith("exit ")]
    irets = [i for i, ln in enumerate(lines) if ln.startswith("00001109  cf ")]
    assert len(irets) >= 2  # a timer interrupt for each task at least
    for i in irets:
        assert re.search(r"iretl +esp=[0-9a-f]{8} eflags=[0-9a-f]{8} ", lines[i]), lines[i]
        assert not lines[i + 1].startswith("00001109"), lines[i + 1]


def test_trace_follows_the_guests_own_mode_switches(backend: str):
    r = kasm("run", "--backend", backend, "--trace", "switch/real_to_long.S")
    text = r.stderr.decode()
    assert r.returncode == 0
    assert re.search(r"^0000:10[0-9a-f]{2}  ", text, re.MULTILINE)  # real mode: CS:IP
    assert re.search(r"^000010[0-9a-f]{2}  .*movl", text, re.MULTILINE)  # 32-bit: EIP
    assert re.search(r"^00000000000010[0-9a-f]{2}  .*%rbx", text, re.MULTILINE)  # 64-bit
    assert "cr0=00000011" in text and "efer=" in text  # the switches, as changed registers


def test_trace_exits_name_the_hypercall_and_its_source(backend: str):
    r = kasm("run", "--backend", backend, "--trace-exits", "hctest.S")
    lines = r.stderr.decode().splitlines()
    assert lines[0] == "exit  out   port 0x500 size 1 value 0x1  HC_PUTCHAR  at 0000:1007  " \
                       "hctest.S:8"
    assert "HC_PUTNUM" in lines[7] and lines[-2].startswith("exit  hlt") \
        and lines[-1] == "end   hlt"


def test_trace_limits_count_from_and_range(backend: str):
    first = kasm("run", "--backend", backend, "--trace", "--trace-count", "3", "hello.S")
    assert first.returncode == 0 and len(first.stderr.splitlines()) == 3
    start = kasm("run", "--backend", backend, "--trace", "--trace-from", "done", "hello.S")
    assert start.stderr.decode().splitlines() == [
        "0000:100e  f4                    hlt                                                 "
        "      hello.S:15  hlt"]
    only = kasm("run", "--backend", backend, "--trace", "--trace-range", "0x1003-0x1004",
                "hello.S").stderr.decode().splitlines()
    assert len(only) == 13 and all(ln.startswith("0000:1003  ac") for ln in only)
    label = kasm("run", "--backend", backend, "--trace", "--trace-range", "done", "hello.S")
    assert len(label.stderr.splitlines()) == 1


@pytest.mark.parametrize(("options", "message"), [
    (["--trace", "--trace-from", "nowhere"], "no label 'nowhere' in hello.S"),
    (["--trace", "--trace-range", "done-_start"], "'done-_start' is an empty range"),
    (["--trace-count", "3"], "limits a trace: add --trace (or --trace=FILE)"),
    (["--trace", "--trace-count", "-1"], "-1: give a number of instructions (0 or more)"),
    (["--trace", "--cpus", "2"], "a trace follows one vCPU: drop --cpus"),
])
def test_bad_trace_options_are_one_line_usage_errors(runs_guests, options: list[str],
                                                     message: str):
    r = kasm("run", *options, "hello.S")
    assert r.returncode == 2 and message in r.stderr.decode()
    assert b"Traceback" not in r.stderr


def test_a_trace_file_that_cannot_be_written_is_an_error(runs_guests):
    r = kasm("run", "--trace=/nonexistent/dir/t.txt", "hello.S")
    assert (r.returncode, r.stderr.decode()) == (
        1, "kasm: error: cannot write the trace to /nonexistent/dir/t.txt: No such file or "
           "directory\n")


def test_trace_of_an_elf_uses_its_symbols_and_dwarf(runs_guests, tmp_path: Path):
    assert kasm("build", "hello.S", "-o", str(tmp_path) + "/").returncode == 0
    r = kasm("run", "--trace", "--trace-from", "done", str(tmp_path / "hello.elf"))
    assert r.stderr.decode().rstrip().endswith("hello.S:15  hlt")

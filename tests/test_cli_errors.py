"""CLI misuse and hostile guests through `kasm`: one clear line, a documented exit code."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {"KASM_NO_CACHE": "1", "PATH": "/usr/bin:/bin"}  # every run builds; no user settings


def kasm(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kasm", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=ENV)


def guest(tmp_path: Path, body: str, name: str = "g.S") -> str:
    src = tmp_path / name
    src.write_text("#include <hypercall.h>\n.code16\n_start:\n" + body + "\n")
    return str(src)


def no_traceback(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.parametrize("command", ["build", "run"])
def test_missing_input_is_one_line_and_exit_1(command):
    r = kasm(command, "does/not/exist.S")
    assert r.returncode == 1
    assert r.stderr.strip() == "kasm: error: does/not/exist.S: no such file"


def test_directory_as_input_is_rejected(tmp_path):
    r = kasm("build", str(tmp_path))
    assert r.returncode == 1 and "is a directory" in r.stderr
    no_traceback(r)


def test_unreadable_input_is_rejected(tmp_path):
    src = Path(guest(tmp_path, "hlt"))
    src.chmod(0)
    r = kasm("build", str(src))
    src.chmod(0o644)
    if r.returncode == 0:
        pytest.skip("running as a user that can read mode-000 files (root)")
    assert r.returncode == 1 and "cannot read" in r.stderr


def test_unwritable_output_is_one_line_and_exit_1(tmp_path):
    r = kasm("build", guest(tmp_path, "hlt"), "-o", "/proc/no/such/dir/out.bin")
    assert r.returncode == 1
    assert r.stderr.startswith("kasm: error: cannot write")
    no_traceback(r)


@pytest.mark.parametrize("args", [
    ["--base", "banana"], ["--mem", "lots"], ["--mode", "unreal"], ["--timeout", "-1"],
    ["--no-such-option"],
])
def test_bad_option_values_are_usage_errors(args, tmp_path):
    r = kasm("run", *args, guest(tmp_path, "hlt"))
    assert r.returncode == 2
    assert "Usage:" in r.stderr or "Error" in r.stderr
    no_traceback(r)


def test_program_larger_than_memory_is_a_build_error(tmp_path):
    r = kasm("run", "--mem", "1M", guest(tmp_path, "hlt\n.bss\n.skip 0x200000"))
    assert r.returncode == 1 and "use a larger --mem" in r.stderr


def test_runaway_guest_stops_at_timeout_with_exit_124(runs_guests, tmp_path):
    start = time.monotonic()
    r = kasm("run", "--timeout", "0.5", "--stats", guest(tmp_path, "1: jmp 1b"))
    assert time.monotonic() - start < 10
    assert r.returncode == 124
    assert "timeout" in r.stderr and "end: timeout" in r.stderr
    no_traceback(r)


def test_unknown_hypercall_is_a_guest_fault_with_registers(runs_guests, tmp_path):
    r = kasm("run", guest(tmp_path, "hc_call 0x7f"))
    assert r.returncode == 120
    assert "0x7f" in r.stderr or "127" in r.stderr
    assert "rip" in r.stderr.lower() and "cr0" in r.stderr.lower()
    no_traceback(r)


def test_unowned_port_is_counted_and_fatal_only_with_strict(runs_guests, tmp_path):
    src = guest(tmp_path, "mov $0x1234, %dx\n    out %al, (%dx)\n    hlt")
    assert kasm("run", src).returncode == 0
    r = kasm("run", "--strict", src)
    assert r.returncode == 120 and "0x1234" in r.stderr


def test_an_exception_is_named_at_its_source_line(runs_guests, tmp_path):
    # a far jump to a descriptor beyond the GDT in protected mode: #GP, named
    src = tmp_path / "pm.S"
    src.write_text(".code32\n_start:\n    ljmp $0x40, $0\n")
    r = kasm("run", str(src))
    assert r.returncode == 120
    assert r.stderr.startswith("kasm: guest fault: general protection fault (#GP), error code "
                               "0x40 (GDT selector 0x40) at RIP 0x1000\n")
    assert f"{src}:3:5: the faulting instruction: ljmpl $0x40:$0x0 (ea 00 00 00 00 40 00)\n" \
        "     ljmp $0x40, $0\n     ^\n" in r.stderr
    no_traceback(r)


def test_triple_fault_is_reported(runs_guests, tmp_path):
    # the guest's own empty IDT, then #GP: a triple fault
    src = tmp_path / "pm.S"
    src.write_text(".code32\n_start:\n    lidt idtr\n    ljmp $0x40, $0\n"
                   "idtr: .word 0\n .long 0\n")
    r = kasm("run", str(src))
    assert r.returncode == 120
    assert "shutdown" in r.stderr.lower() or "triple" in r.stderr.lower()
    no_traceback(r)


def test_hc_exit_status_is_truncated_to_8_bits(runs_guests, tmp_path):
    assert kasm("run", guest(tmp_path, "hc_exit $0x1ff")).returncode == 0xFF


def test_ctrl_c_stops_the_guest_with_exit_130_and_stats(runs_guests, tmp_path):
    import signal

    src = guest(tmp_path, "1: jmp 1b")
    p = subprocess.Popen([sys.executable, "-m", "kasm", "run", "--timeout", "0", "--stats", src],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         stdin=subprocess.DEVNULL, env=ENV)
    time.sleep(1.5)  # past start-up and into the guest
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=10)
    assert p.returncode == 130
    assert "end: interrupted" in err and "Traceback" not in err


def test_page_fault_without_idt_in_long_mode_names_cr2(runs_guests, tmp_path):
    src = tmp_path / "pf.S"
    src.write_text(".code64\n_start:\n    movabs $0x100000000000, %rax\n    movb (%rax), %bl\n")
    r = kasm("run", str(src))
    assert r.returncode == 120
    assert "page fault (#PF), error code 0x0 (page not present, read)" in r.stderr
    assert "cr2 0000100000000000" in r.stderr
    no_traceback(r)


def test_closed_stdout_and_stdin_are_not_an_error(runs_guests):
    r = subprocess.run(["bash", "-c", f"'{sys.executable}' -m kasm run examples/hello.S >&- <&-"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env=ENV)
    assert r.returncode == 0
    no_traceback(r)


def test_guest_stops_when_the_output_reader_goes_away(runs_guests, tmp_path):
    src = guest(tmp_path, "1:  hc_putchar $0x41\n    jmp 1b")
    start = time.monotonic()
    r = subprocess.run(["bash", "-c", f"set -o pipefail; '{sys.executable}' -m kasm run "
                        f"--timeout 30 '{src}' | head -c 10"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, env=ENV)
    assert time.monotonic() - start < 10  # not the 30 s timeout
    assert r.stdout == "A" * 10
    assert r.returncode == 141  # as if by SIGPIPE
    no_traceback(r)

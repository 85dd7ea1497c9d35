"""`python -m vmm`: exit codes and reports as a process sees them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from vmm import ExitCode


def _vmm(backend: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vmm", "--backend", backend, *args], capture_output=True,
        timeout=30, **kw
    )


def test_cli_exit_status_and_stats_json(backend: str, tmp_path: Path) -> None:
    image = tmp_path / "g.bin"
    # mov dx,0x500; mov al,1; mov bl,'A'; out dx,al; mov bx,298; mov al,0; out dx,al
    image.write_bytes(bytes.fromhex("ba0005" "b001" "b341" "ee" "bb2a01" "b000" "ee"))
    stats = tmp_path / "stats.json"
    p = _vmm(backend, str(image), "--stats-json", str(stats), "--stats")
    assert p.returncode == 298 & 0xFF and p.stdout == b"A"
    assert b"end: hc_exit" in p.stderr and f"backend: {backend}".encode() in p.stderr
    d = json.loads(stats.read_text())
    assert d["total_exits"] == 2 and d["exits_by_port"] == {"0x500": 2}


def test_cli_fault_timeout_and_setup_errors(backend: str, tmp_path: Path) -> None:
    ud2 = tmp_path / "ud2.bin"
    ud2.write_bytes(b"\x0f\x0b")
    p = _vmm(backend, str(ud2), "--mode", "protected")
    assert p.returncode == ExitCode.GUEST_FAULT and b"invalid opcode (#UD)" in p.stderr
    assert b"Traceback" not in p.stderr
    spin = tmp_path / "spin.bin"
    spin.write_bytes(b"\xeb\xfe")
    p = _vmm(backend, str(spin), "--timeout", "0.3")
    assert p.returncode == ExitCode.TIMEOUT and b"0000:1000" in p.stderr
    p = _vmm(backend, str(spin), "--mem", "1K")  # a bad value is a usage error, as in kasm run
    assert p.returncode == ExitCode.USAGE_ERROR and p.stderr.count(b"\n") == 1
    p = _vmm(backend, str(spin), "--mode", "sideways")
    assert p.returncode == ExitCode.USAGE_ERROR
    p = _vmm(backend, str(tmp_path / "missing.bin"))
    assert p.returncode == ExitCode.BUILD_ERROR and p.stderr.count(b"\n") == 1
    p = _vmm(backend, str(spin), "--mem", "64K", "--base", "0x100000")  # past the end of RAM
    assert p.returncode == ExitCode.VMM_ERROR and p.stderr.count(b"\n") == 1


def test_both_command_lines_mean_the_same_by_timeout_zero_and_tell_an_elf_by_its_magic(
        backend: str, tmp_path: Path) -> None:
    """`--timeout 0` is no timeout in python -m vmm as in kasm run; an ELF named .bin (or
    anything) boots as an ELF in both."""
    import shutil

    from kasm.build import build_source
    from kasm.elf import write_elf

    image = build_source(".code16\n_start: mov $0x500, %dx\n mov $1, %al\n mov $'E', %bl\n"
                         " out %al, (%dx)\n hlt\n", "t.S").image
    elf = tmp_path / "guest.bin"  # an ELF whatever its name
    elf.write_bytes(write_elf(image))
    shutil.copy(elf, tmp_path / "guest.weird")
    for path in (elf, tmp_path / "guest.weird"):
        p = _vmm(backend, str(path), "--timeout", "0")
        assert (p.returncode, p.stdout) == (0, b"E"), p.stderr
        k = subprocess.run([sys.executable, "-m", "kasm", "run", "--backend", backend,
                            "--timeout", "0", str(path)], capture_output=True, timeout=60)
        assert (k.returncode, k.stdout) == (0, b"E"), k.stderr


def test_cli_sigint_ends_interrupted_with_stats(backend: str, tmp_path: Path) -> None:
    spin = tmp_path / "spin.bin"
    spin.write_bytes(b"\xeb\xfe")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vmm", "--backend", backend, str(spin), "--stats"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == ExitCode.INTERRUPTED
    assert b"end: interrupted" in err and b"Traceback" not in err

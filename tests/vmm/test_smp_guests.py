"""Several vCPUs on each backend (real KVM, the emulator): HC_CPU_ID and the stacks in every mode,
and runs ended by one vCPU, by the watchdog and by Ctrl-C while every vCPU spins."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gnu_guests import HC

from vmm import BootMode, ExitCode, Machine, RunEnd, run_flat

ROOT = Path(__file__).resolve().parents[2]
SLOTS = 0x8000  # each vCPU writes (id, N, its first stack pointer) to SLOTS + 32 x id

RECORD = """
.code{bits}
    mov {r}di, {r}sp
    hc 7
    mov {r}si, {r}ax
    shl {r}si, 5
    mov [{r}si + 0x8000], {r}ax
    mov [{r}si + 0x8008], {r}bx
    mov [{r}si + 0x8010], {r}di
    hlt
"""
PREFIX = {16: "", 32: "e", 64: "r"}  # di, edi, rdi

# vCPU 0 does what the test says; every other vCPU spins forever.
SPIN_BUT_VCPU0 = HC + """
.code16
    hc 7
    test ax, ax
    jnz 1f
{vcpu0}
1:  jmp 1b
"""


@pytest.mark.parametrize("mode", [BootMode.REAL, BootMode.PROTECTED, BootMode.LONG])
def test_each_vcpu_learns_its_id_and_the_count_and_has_its_own_stack(backend: str, asm, mode):
    with Machine(cpus=3, output=io.BytesIO()) as m:
        m.load_flat(asm(HC + RECORD.format(bits=mode.bits, r=PREFIX[mode.bits])))
        r = m.run(0x1000, mode, timeout=20)
        assert m.memory is not None
        words = [[m.memory.read_u64(SLOTS + 32 * i + 8 * k) for k in range(3)] for i in range(3)]
        top = m.layout.stack_top
    assert (r.end, r.stats.cpus, r.stats.exits_by_reason) == (RunEnd.HLT, 3, {"io": 3, "hlt": 3})
    if mode is BootMode.REAL:
        stacks = [0xFFFE, 0xFFFE - 0x5550, 0xFFFE - 2 * 0x5550]
    else:
        stacks = [top, top - 0x10000, top - 0x20000]
    assert words == [[i, 3, stacks[i]] for i in range(3)]


def test_hc_exit_on_one_vcpu_stops_a_spinning_one_at_once(backend: str, asm):
    out = io.BytesIO()
    t0 = time.perf_counter()
    r = run_flat(asm(SPIN_BUT_VCPU0.format(vcpu0="    mov bl, 'x'\n    hc 1\n    mov bx, 7\n"
                                                 "    hc 0")), cpus=2, timeout=20, output=out)
    assert time.perf_counter() - t0 < 10
    assert (r.end, r.exit_code, out.getvalue()) == (RunEnd.HC_EXIT, 7, b"x")
    assert [v.end for v in r.stats.vcpus] == ["hc_exit", "stopped"]
    # vCPU 1 made its HC_CPU_ID, then was stopped out of its spin (an intr exit) or, when
    # vCPU 0 ended the run first, at that very hypercall
    assert r.stats.vcpus[1].total_exits <= 2


def test_a_fault_on_one_vcpu_stops_the_others_and_is_reported_as_its_own(backend: str, asm):
    src = HC + """
.code32
    hc 7
    test eax, eax
    jz 1f
    ud2                         # through the default IDT: named
1:  jmp 1b
"""
    r = run_flat(asm(src), mode=BootMode.PROTECTED, cpus=2, timeout=20, output=io.BytesIO())
    assert (r.end, r.exit_code) == (RunEnd.EXCEPTION, ExitCode.GUEST_FAULT)
    assert r.fault.startswith("guest fault on vCPU 1: invalid opcode (#UD)")
    assert "RIP" in r.register_dump or "rip" in r.register_dump
    assert [v.end for v in r.stats.vcpus] == ["stopped", "exception"]


def test_the_watchdog_stops_every_spinning_vcpu(backend: str, asm):
    t0 = time.perf_counter()
    r = run_flat(asm(SPIN_BUT_VCPU0.format(vcpu0="")), cpus=2, timeout=0.5,
                 output=io.BytesIO())
    assert time.perf_counter() - t0 < 5
    assert (r.end, r.exit_code) == (RunEnd.TIMEOUT, ExitCode.TIMEOUT)
    assert "(vCPU 0)" in r.fault and "(vCPU 1)" in r.fault
    assert [v.end for v in r.stats.vcpus] == ["timeout", "timeout"]


def test_ctrl_c_stops_a_run_whose_every_vcpu_spins(backend: str, tmp_path):
    spin = tmp_path / "spin.S"
    spin.write_text(".code16\n_start:\n    jmp _start\n")
    proc = subprocess.Popen([sys.executable, "-m", "kasm", "run", "--cpus", "2", "--stats",
                             "--backend", backend, "--timeout", "60", str(spin)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={"PATH": "/usr/bin:/bin", "KASM_NO_CACHE": "1"})
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == ExitCode.INTERRUPTED, err.decode()
    assert b"interrupted: stopped by Ctrl-C at" in err and b"(vCPU 1)" in err
    assert b"end: interrupted" in err and b"Traceback" not in err

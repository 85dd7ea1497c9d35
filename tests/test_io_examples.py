"""The input examples (examples/io/) with real stdin through the CLI: a pipe, empty input, a
closed stdin, input that arrives late, and a stdin that never ends (under --timeout).
Exact stdout bytes, exit status and VM exit counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {"KASM_NO_CACHE": "1", "PATH": "/usr/bin:/bin"}
CLOSED = object()  # run with file descriptor 0 closed


def kasm_run(name: str, stdin, tmp_path: Path, *options: str) -> tuple[int, bytes, dict]:
    """Run examples/io/NAME; stdin is bytes (a pipe), CLOSED, or a file descriptor."""
    stats = tmp_path / "stats.json"
    args = [sys.executable, "-m", "kasm", "run", *options, "--stats-json", str(stats),
            f"examples/io/{name}"]
    kw: dict = {"capture_output": True, "timeout": 60, "cwd": ROOT, "env": ENV}
    if stdin is CLOSED:
        kw["stdin"] = subprocess.DEVNULL
        kw["preexec_fn"] = lambda: os.close(0)
    elif isinstance(stdin, bytes):
        kw["input"] = stdin
    else:
        kw["stdin"] = stdin
    r = subprocess.run(args, **kw)
    assert r.stderr == b"" or r.returncode != 0, r.stderr.decode()
    data = json.loads(stats.read_text()) if stats.exists() else {}
    return r.returncode, r.stdout, data


def sum_exits(input_bytes: int) -> int:
    """sum.S: 2 exits per byte and 2 for the end of input, then PUTNUM, NEWLINE, EXIT."""
    return 2 * (input_bytes + 1) + 3


# ---------------------------------------------------------------------------------- sum.S
@pytest.mark.parametrize(("stdin", "stdout"), [
    (b"12 34\n", b"46\n"),
    (b"12 34", b"46\n"),
    (b"1\n2\n3\n4\n", b"10\n"),
    (b"  7,  8;9 x 10\n\n", b"34\n"),
    (b"4000000000 294967295 5\n", b"4\n"),  # wraps at 2^32
    (b"0\n", b"0\n"),
    (b"no numbers here\n", b"0\n"),
])
def test_sum_adds_the_numbers_from_a_pipe(stdin, stdout, backend, tmp_path):
    rc, out, stats = kasm_run("sum.S", stdin, tmp_path, "--backend", backend)
    assert (rc, out) == (0, stdout)
    assert stats["total_exits"] == sum_exits(len(stdin))
    assert stats["exits_by_reason"] == {"io": sum_exits(len(stdin))}
    ports = stats["exits_by_port"]
    assert sum(ports.values()) == stats["total_exits"]
    assert ports["0x3fd"] == len(stdin) + 1  # one LSR poll per byte and one for the end
    assert ports["0x500"] >= 4  # at least the GETCHAR for the end, PUTNUM, NEWLINE, EXIT


@pytest.mark.parametrize("stdin", [b"", CLOSED], ids=["empty", "closed"])
def test_sum_of_no_input_is_zero(stdin, backend, tmp_path):
    rc, out, stats = kasm_run("sum.S", stdin, tmp_path, "--backend", backend)
    assert (rc, out) == (0, b"0\n")
    assert stats["total_exits"] == 5
    assert stats["exits_by_port"] == {"0x3fd": 1, "0x500": 4}
    assert stats["end"] == "hc_exit"


def test_sum_waits_for_input_that_arrives_late(backend, tmp_path):
    """LSR says empty, HC_GETCHAR blocks until the byte comes: still 2 exits per byte."""
    stats = tmp_path / "stats.json"
    p = subprocess.Popen([sys.executable, "-m", "kasm", "run", "--stats-json", str(stats),
                          "--backend", backend, "examples/io/sum.S"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT, env=ENV)
    assert p.stdin is not None
    for chunk in (b"5", b"\n"):
        time.sleep(0.3)
        p.stdin.write(chunk)
        p.stdin.flush()
    time.sleep(0.3)
    out, err = p.communicate(b"6\n", timeout=60)  # then closes stdin: the end of input
    assert (p.returncode, out) == (0, b"11\n"), err.decode()
    data = json.loads(stats.read_text())
    assert data["total_exits"] == sum_exits(4)
    assert data["exits_by_port"]["0x500"] > 4  # some bytes came through HC_GETCHAR


def test_a_guest_waiting_for_input_that_never_comes_ends_at_the_timeout(backend, tmp_path):
    read_end, write_end = os.pipe()
    try:
        started = time.monotonic()
        rc, out, _ = kasm_run("sum.S", read_end, tmp_path, "--backend", backend, "--timeout",
                              "0.5")
        assert time.monotonic() - started < 30
    finally:
        os.close(read_end)
        os.close(write_end)
    assert (rc, out) == (124, b"")


# ---------------------------------------------------------------------------------- echo.S
@pytest.mark.parametrize(("stdin", "stdout"), [
    (b"Hello, kvm!\n", b"HELLO, KVM!\n"),
    (b"one\ntwo\n", b"ONE\n"),  # only the first line
    (b"abc", b"ABC"),  # no newline read, none printed
    (b"\n", b"\n"),
    (b"a-z A-Z 0-9 `{@[ \xe9\xff\n", b"A-Z A-Z 0-9 `{@[ \xe9\xff\n"),
])
def test_echo_prints_the_first_line_uppercased(stdin, stdout, backend, tmp_path):
    rc, out, stats = kasm_run("echo.S", stdin, tmp_path, "--backend", backend)
    assert (rc, out) == (0, stdout)
    line = len(stdout)
    reads = line + (0 if stdout.endswith(b"\n") else 1)  # without "\n": the end is read too
    assert stats["total_exits"] == reads + 1 + 1  # GETCHARs, one WRITE, EXIT
    assert stats["exits_by_port"] == {"0x500": reads + 2}


@pytest.mark.parametrize("stdin", [b"", CLOSED], ids=["empty", "closed"])
def test_echo_of_no_input_prints_nothing(stdin, backend, tmp_path):
    rc, out, stats = kasm_run("echo.S", stdin, tmp_path, "--backend", backend)
    assert (rc, out) == (0, b"")
    assert stats["total_exits"] == 2  # GETCHAR (end of input), EXIT
    assert stats["end"] == "hc_exit"


def test_echo_of_a_line_longer_than_its_buffer(backend, tmp_path):
    line = bytes(range(32, 127)) * 7 + b"\n"  # 666 bytes: the 256-byte buffer fills twice
    rc, out, stats = kasm_run("echo.S", line + b"rest\n", tmp_path, "--backend", backend)
    assert (rc, out) == (0, line.upper())
    assert stats["total_exits"] == len(line) + 3 + 1  # GETCHARs, three WRITEs, EXIT


# ---------------------------------------------------------------------------------- calc.S
def calc_text(a: int, b: int) -> bytes:
    def wrap(v: int) -> int:
        v &= (1 << 64) - 1
        return v - (1 << 64) if v >> 63 else v
    return b"".join(f"{a} {op} {b} = {wrap(r)}\n".encode()
                    for op, r in (("+", a + b), ("-", a - b), ("*", a * b)))


@pytest.mark.parametrize(("stdin", "a", "b", "reads"), [
    (b"12 34\n", 12, 34, 6),
    (b"12\n34\n", 12, 34, 6),
    (b"12 34 56 78\n", 12, 34, 6),  # reading stops after the second number
    (b"-5 -3", -5, -3, 6),  # the end of input ends the second number: 5 bytes + the end
    (b"x=7, y=-100\n", 7, -100, 12),
    (b"3000000000 3000000000\n", 3000000000, 3000000000, 22),
    (b"9223372036854775807 2\n", 9223372036854775807, 2, 22),  # 64-bit wraparound
])
def test_calc_prints_sum_difference_and_product(stdin, a, b, reads, backend, tmp_path):
    rc, out, stats = kasm_run("calc.S", stdin, tmp_path, "--backend", backend)
    expected = calc_text(a, b)
    assert (rc, out) == (0, expected)
    minus_signs = expected.count(b"-") - expected.count(b" - ")
    assert stats["total_exits"] == reads + 3 * 6 + minus_signs + 1
    assert stats["exits_by_port"] == {"0x500": stats["total_exits"]}


def test_calc_example_from_its_header(backend, tmp_path):
    rc, out, stats = kasm_run("calc.S", b"12 34\n", tmp_path, "--backend", backend)
    assert out == b"12 + 34 = 46\n12 - 34 = -22\n12 * 34 = 408\n"
    assert stats["total_exits"] == 26


@pytest.mark.parametrize(("stdin", "exits"), [
    (b"", 1 + 2), (CLOSED, 1 + 2), (b"42\n", 4 + 2), (b"hello\n", 7 + 2)],
    ids=["empty", "closed", "one-number", "no-numbers"])
def test_calc_without_two_numbers_says_so_and_exits_1(stdin, exits, backend, tmp_path):
    rc, out, stats = kasm_run("calc.S", stdin, tmp_path, "--backend", backend)
    assert (rc, out) == (1, b"calc: need two numbers\n")
    assert stats["total_exits"] == exits  # GETCHARs up to the end of input, PUTS, EXIT
    assert stats["end"] == "hc_exit"


# ------------------------------------------------------------------- the macro library
MACROS = """#include <hypercall.h>
.code{bits}
.globl _start
_start:
    hc_puts $msg                # "abc"
    hc_write $msg+1, $2         # "bc"
    movl $msg, %ebx
    movl $1, %ecx
    hc_write                    # "a": pointer and length already in the registers
    hc_puts                     # "abc": pointer still in BX/EBX/RBX
    hc_newline
copy:
    hc_getchar done
    movb %al, %bl
    hc_call HC_PUTCHAR
    jmp copy
done:
    hc_exit $7
.section .rodata
msg:
    .asciz "abc"
"""


@pytest.mark.parametrize("bits", [16, 32, 64])
@pytest.mark.parametrize("stdin", [b"xy", b"", CLOSED], ids=["xy", "empty", "closed"])
def test_input_and_output_macros_work_in_every_mode(bits, stdin, backend, tmp_path):
    src = tmp_path / f"macros{bits}.S"
    src.write_text(MACROS.format(bits=bits))
    stats = tmp_path / "stats.json"
    kw: dict = {"input": stdin} if isinstance(stdin, bytes) else {
        "stdin": subprocess.DEVNULL, "preexec_fn": lambda: os.close(0)}
    r = subprocess.run([sys.executable, "-m", "kasm", "run", "--stats-json", str(stats),
                        "--backend", backend, str(src)], capture_output=True, timeout=60,
                       cwd=ROOT, env=ENV, **kw)
    typed = stdin if isinstance(stdin, bytes) else b""
    assert (r.returncode, r.stdout) == (7, b"abcbcaabc\n" + typed), r.stderr.decode()
    # PUTS, WRITE, WRITE, PUTS, NEWLINE, GETCHAR + PUTCHAR a byte, GETCHAR (end), EXIT
    assert json.loads(stats.read_text())["total_exits"] == 5 + 2 * len(typed) + 2

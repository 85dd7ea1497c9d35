"""A guest on a terminal (a real pty, real signals): keys as typed, Ctrl-D as end of input, and
the terminal restored however kasm ends."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPIN = ".code16\n_start:\n1:  jmp 1b\n"
# Prints each input byte in decimal, then exits with 7 at end of input.
BYTES = """#include <hypercall.h>
.code16
_start:
1:  hc_getchar 2f
    movzbl %al, %ecx
    hc_putnum %ecx
    hc_putchar $' '
    jmp 1b
2:  hc_exit $7
"""


class OnTerminal:
    """kasm with stdin, stdout and stderr on a fresh pty; the test holds the other end."""

    def __init__(self, tmp_path: Path, source: str, *options: str) -> None:
        src = tmp_path / "guest.S"
        src.write_text(source)
        self.master, self.slave = os.openpty()
        self.original = termios.tcgetattr(self.slave)
        env = dict(os.environ, KASM_NO_CACHE="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kasm", "run", *options, str(src)], stdin=self.slave,
            stdout=self.slave, stderr=self.slave, cwd=ROOT, env=env, start_new_session=True)

    def wait_for_guest(self, limit: float = 30) -> None:
        """Until kasm has switched the terminal to key-by-key input: the guest is running."""
        deadline = time.monotonic() + limit
        while termios.tcgetattr(self.slave)[3] & termios.ICANON:
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, "the guest never started"
            time.sleep(0.02)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self, limit: float = 30) -> int:
        try:
            return self.proc.wait(limit)
        finally:
            self.proc.kill()

    def output(self) -> str:
        out = b""
        while select.select([self.master], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace").replace("\r\n", "\n")

    def restored(self) -> bool:
        return termios.tcgetattr(self.slave) == self.original

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def terminal(tmp_path: Path):  # noqa: ANN201
    made: list[OnTerminal] = []

    def start(source: str, *options: str) -> OnTerminal:
        made.append(OnTerminal(tmp_path, source, *options))
        return made[-1]

    yield start
    for t in made:
        t.proc.kill()
        t.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP])
def test_stopping_signal_restores_the_terminal_and_exits_128_plus_n(
        signum, terminal, backend) -> None:
    t = terminal(SPIN, "--timeout", "0", "--backend", backend)
    t.wait_for_guest()
    time.sleep(1)  # inside the guest's loop by now, not still setting it up
    t.proc.send_signal(signum)
    assert t.finish(limit=10) == 128 + signum  # at once, though the guest never exits
    assert t.output() == f"kasm: stopped by {signal.Signals(signum).name}\n"
    assert t.restored()


def test_ctrl_c_restores_the_terminal_and_exits_130(terminal, backend) -> None:
    t = terminal(SPIN, "--timeout", "0", "--backend", backend)
    t.wait_for_guest()
    time.sleep(1)
    t.proc.send_signal(signal.SIGINT)
    assert t.finish(limit=10) == 130
    # "kasm: interrupted: stopped by Ctrl-C at ..." once the guest runs; "kasm: interrupted"
    # when Ctrl-C comes while the VM is still being set up, after the terminal was switched
    assert t.output().startswith("kasm: interrupted")
    assert t.restored()


@pytest.mark.parametrize(("keys", "received"), [
    (b"ab\n\x04", "97 98 10 "),  # Ctrl-D at the start of a line
    (b"\x04", ""),  # ... the first line included
    (b"ab\x04\x04", "97 98 "),  # mid-line: the first sends the line, the second ends input
    (b"\x16\x04\x16\x16\n\x04", "4 22 10 "),  # Ctrl-V: the next key literally
])
def test_ctrl_d_is_end_of_input_as_a_line_discipline_makes_it(
        keys, received, terminal, kvm_device) -> None:
    t = terminal(BYTES, "--timeout", "30")
    t.wait_for_guest()
    t.type(keys)
    assert t.finish() == 7  # the guest saw the end of input: no timeout
    assert t.output() == received
    assert t.restored()


def test_stats_after_output_without_newline_start_on_their_own_line(
        terminal, kvm_device) -> None:
    t = terminal('#include <hypercall.h>\n.code16\n_start:\n hc_print "abc"\n hlt\n', "--stats")
    assert t.finish() == 0
    assert t.output().startswith("abc\nend: hlt\n")


def test_terminal_keys_follow_the_line_discipline() -> None:
    from vmm.devices.console import TerminalKeys

    keys = TerminalKeys()
    typed = [keys.key(b) for b in b"a\x04b\n\x16\x04\x16\x16\x04"]
    # a, Ctrl-D mid-line (dropped), b, newline, Ctrl-V Ctrl-D (0x04), Ctrl-V Ctrl-V (0x16),
    # Ctrl-D mid-line (dropped)
    assert typed == [0x61, None, 0x62, 0x0A, None, 0x04, None, 0x16, None]
    assert keys.key(0x04) == TerminalKeys.END  # right after a Ctrl-D: end of input
    assert TerminalKeys().key(0x04) == TerminalKeys.END  # at the start of the first line


def test_an_interrupt_driven_guest_echoes_keys_as_typed_and_ctrl_c_ends_its_sleep(
        terminal, kvm_device) -> None:
    """examples/irq/uart_echo.S sleeps in HLT between keys: each key comes as an interrupt
    and is shown at once (the output is flushed when the guest sleeps); Ctrl-C stops it."""
    t = terminal((ROOT / "examples" / "irq" / "uart_echo.S").read_text(), "--timeout", "0")
    t.wait_for_guest()
    t.type(b"hi")
    deadline = time.monotonic() + 10
    seen = ""
    while "hi" not in seen and time.monotonic() < deadline:
        seen += t.output()
    assert seen == "hi"
    t.proc.send_signal(signal.SIGINT)
    assert t.finish() == 130
    assert t.output().startswith("\nkasm: interrupted: stopped by Ctrl-C")
    assert t.restored()

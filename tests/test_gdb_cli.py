"""`kasm run --gdb[=PORT]` and `python -m vmm --gdb`: the command line's errors, and Debian's gdb
debugging real guests on each backend over a real socket (what gdb and kasm print)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {"KASM_NO_CACHE": "1", "PATH": "/usr/bin:/bin"}
SECONDS = 60
WAITING = re.compile(r"^kasm: waiting for gdb on 127\.0\.0\.1:(\d+): gdb -ex 'target remote "
                     r":\1'(?: -ex 'set architecture i8086')?$")


def kasm(*args: str, timeout: float = SECONDS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kasm", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=ENV)


def hello(tmp_path: Path) -> str:
    src = tmp_path / "hello.S"
    src.write_text("#include <hypercall.h>\n.code16\n_start:\n    hc_exit $5\n")
    return str(src)


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "'abc' is not a port number (1-65535, or 0 for any free port)"),
    ("65536", "65536 is not a port number (1-65535, or 0 for any free port)"),
    ("-3", "-3 is not a port number (1-65535, or 0 for any free port)"),
])
def test_a_bad_port_is_a_usage_error(tmp_path: Path, value: str, message: str) -> None:
    r = kasm("run", f"--gdb={value}", hello(tmp_path))
    assert r.returncode == 2
    assert r.stderr.splitlines()[-1] == f"Error: Invalid value for '--gdb': {message}"


def test_gdb_debugs_one_vcpu(tmp_path: Path) -> None:
    r = kasm("run", "--gdb", "--cpus", "2", hello(tmp_path))
    assert r.returncode == 2
    assert r.stderr.splitlines()[-1] == ("Error: Invalid value for '--gdb': gdb debugs one "
                                         "vCPU, not 2: leave out --cpus")


def test_a_port_in_use_is_one_line_and_exit_3(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = kasm("run", f"--gdb={port}", hello(tmp_path))
    assert r.returncode == 3
    assert r.stderr == (f"kasm: error: cannot listen for gdb on 127.0.0.1:{port}: "
                        "Address already in use\n")


def test_gdb_alone_listens_on_1234(tmp_path: Path) -> None:
    with socket.socket() as taken:
        try:  # hold 1234 so that the run cannot start and wait; someone else's does as well
            taken.bind(("127.0.0.1", 1234))
            taken.listen()
        except OSError:
            pass
        r = kasm("run", "--gdb", hello(tmp_path))
    assert r.returncode == 3 and "cannot listen for gdb on 127.0.0.1:1234: " in r.stderr


def test_python_m_vmm_takes_gdb_too(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "vmm", "--gdb=x", str(tmp_path / "none.bin")],
                       capture_output=True, text=True, cwd=ROOT, timeout=SECONDS)
    assert r.returncode == 2
    assert r.stderr == ("vmm: error: --gdb: 'x' is not a port number (1-65535, or 0 for any "
                        "free port)\n")


# ---- real guests on the real backends --------------------------------------------------------

@pytest.fixture
def debuggable(backend: str) -> str:
    """A backend that stops a guest for a debugger (both do: VcpuBackend.set_guest_debug)."""
    return backend


class Session:
    """`kasm run --gdb=0 ...` and a gdb in batch mode connected to it."""

    def __init__(self, args: list[str], commands: list[str], *, interrupt_after: bytes = b""
                 ) -> None:
        self.kasm = subprocess.Popen([sys.executable, "-m", "kasm", "run", "--gdb=0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, cwd=ROOT, env=ENV)
        try:
            line = self.kasm.stderr.readline().decode()
            match = WAITING.match(line.rstrip("\n"))
            assert match, line
            port = match[1]
            argv = ["gdb", "-batch", "-nx", "-ex", f"target remote :{port}"]
            for c in commands:
                argv += ["-ex", c]
            gdb = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True)
            early = b""
            if interrupt_after:
                early = self._read_until(interrupt_after)
                time.sleep(0.3)
                gdb.send_signal(signal.SIGINT)
            self.gdb_output = gdb.communicate(timeout=SECONDS)[0]
            out, err = self.kasm.communicate(timeout=SECONDS)
            self.stdout, self.stderr = (early + out).decode(), err.decode()
            self.returncode = self.kasm.returncode
        finally:
            for process in (self.kasm, locals().get("gdb")):
                if process is not None and process.poll() is None:
                    process.kill()

    def _read_until(self, text: bytes) -> bytes:
        seen = b""
        deadline = time.monotonic() + SECONDS
        while text not in seen and time.monotonic() < deadline:
            seen += os.read(self.kasm.stdout.fileno(), 4096)
        return seen


LOOP = """\
#include <hypercall.h>
{code}
.globl _start
_start:
    mov $3, %ecx
again:
    hc_putchar $'x'
    dec %ecx
    jnz again
done:
    hc_puts $message
    hc_exit $5
.section .rodata
message:
    .asciz "Hello\\n"
"""
CODE = {"real": ".code16", "protected": ".code32", "long": ".code64"}
PC = {"real": "eip", "protected": "eip", "long": "rip"}


@pytest.mark.parametrize("mode", list(CODE))
def test_break_inspect_change_and_continue(tmp_path: Path, debuggable: str, mode: str) -> None:
    src = tmp_path / f"loop_{mode}.S"
    src.write_text(LOOP.format(code=CODE[mode]))
    s = Session(["--backend", debuggable, str(src)], [
        "break done", "continue", "info registers", f"print/x ${PC[mode]} == done",
        "x/s &message", "set {char}&message = 'J'", "stepi", "continue"])
    out = s.gdb_output
    assert re.search(r"Breakpoint 1, (0x[0-9a-f]+ in )?done \(\)", out) and "$1 = 0x1" in out
    assert re.search(r"^ecx\s+0x0\s", out, re.M) or re.search(r"^rcx\s+0x0\s", out, re.M)
    for name in ("eflags", "cs", "ss", "cr0", "cr3", "efer"):
        assert re.search(rf"^{name}\s+0x", out, re.M), name
    assert '"Hello\\n"' in out
    assert "[Inferior 1 (Remote target) exited with code 05]" in out
    assert s.stdout == "xxxJello\n" and s.returncode == 5


def test_ctrl_c_in_gdb_interrupts_a_running_guest(tmp_path: Path, debuggable: str) -> None:
    src = tmp_path / "spin.S"
    src.write_text("#include <hypercall.h>\n.code32\n_start:\n    hc_print \"spinning\\n\"\n"
                   "spin:\n    jmp spin\n")
    s = Session(["--backend", debuggable, str(src)], ["continue", "print $eip == spin",
                                                       "kill"], interrupt_after=b"spinning")
    assert "Program received signal SIGINT, Interrupt." in s.gdb_output
    assert "$1 = 1" in s.gdb_output
    assert s.returncode == 137
    assert re.fullmatch(r"kasm: gdb killed the guest at RIP 0x[0-9a-f]+",
                        s.stderr.splitlines()[0])


def test_quitting_gdb_ends_the_run(tmp_path: Path, debuggable: str) -> None:
    s = Session(["--backend", debuggable, hello(tmp_path)], ["stepi"])
    assert s.returncode == 137 and s.stdout == ""
    assert re.fullmatch(r"kasm: gdb killed the guest at CS:IP 0000:10[0-9a-f]{2}",
                        s.stderr.splitlines()[0])


def test_detach_lets_the_guest_finish(tmp_path: Path, debuggable: str) -> None:
    src = tmp_path / "loop.S"
    src.write_text(LOOP.format(code=".code16"))
    s = Session(["--backend", debuggable, str(src)], ["break done", "continue", "detach"])
    assert "[Inferior 1 (Remote target) detached]" in s.gdb_output
    assert s.stdout == "xxxHello\n" and s.returncode == 5
    assert "kasm: gdb detached: the guest runs on to its end" in s.stderr


def test_a_mode_switch_is_told_in_gdb(debuggable: str) -> None:
    s = Session(["--backend", debuggable, "examples/switch/real_to_long.S"], [
        "break protected", "break long", "continue", "continue", "continue"])
    out = s.gdb_output
    assert ("kasm: the guest is in protected mode now; gdb keeps the i8086 registers it "
            "connected with; `set architecture i386` disassembles its code") in out
    assert ("kasm: the guest is in long mode now; gdb keeps the i8086 registers it connected "
            "with (their low 32 bits; no r8-r15); `set architecture i386:x86-64` disassembles "
            "its code") in out
    assert re.search(r"Breakpoint 2, (0x[0-9a-f]+ in )?long \(\)", out)
    assert "exited normally" in out
    assert s.stdout.endswith("long mode: 18446744073709551615\n") and s.returncode == 0


def _has_line_info(src: Path) -> bool:
    from kasm.build import build_file
    from kasm.commands import elf_bytes

    return b".debug_line" in elf_bytes(build_file(str(src)).image)


def test_source_lines_break_step_and_next(tmp_path: Path, debuggable: str) -> None:
    src = tmp_path / "lines.S"
    src.write_text(LOOP.format(code=".code32"))
    assert _has_line_info(src)
    s = Session(["--backend", debuggable, str(src)], [
        "break lines.S:7", "continue", "delete", "next", "step", "info line *$pc",
        "continue"])
    out = s.gdb_output
    assert re.search(r"Breakpoint 1, again \(\) at \S*lines.S:7", out)
    assert re.search(r"^8\t    dec %ecx$", out, re.M)
    assert re.search(r"^9\t    jnz again$", out, re.M)
    assert re.search(r'Line 9 of "\S*lines.S"', out)
    assert s.stdout == "xxxHello\n" and s.returncode == 5


DIVIDE = ".code32\n_start:\n    mov $7, %eax\n    xor %edx, %edx\n    xor %ecx, %ecx\n" \
         "    divl %ecx\n    hlt\n"


def test_an_exception_stops_gdb_at_the_faulting_instruction_first(tmp_path: Path,
                                                                   debuggable: str) -> None:
    src = tmp_path / "div.S"
    src.write_text(DIVIDE)
    s = Session(["--backend", debuggable, str(src)], [
        "continue", "print/x $pc", "print/x $eax", "continue"])
    out = s.gdb_output
    assert re.search(r"Program received signal SIGFPE, Arithmetic exception\.\n"
                     r"_start \(\) at \S*div.S:6\n6\t    divl %ecx\n\$1 = 0x1009\n\$2 = 0x7\n",
                     out), out
    assert "Program terminated with signal SIGFPE, Arithmetic exception." in out
    assert s.returncode == 120
    assert s.stderr.splitlines()[0] == "kasm: guest fault: divide error (#DE) at RIP 0x1009"


def test_a_step_onto_a_faulting_instruction_stops_there_with_its_signal(
        tmp_path: Path, debuggable: str) -> None:
    src = tmp_path / "ud.S"
    src.write_text(".code64\n_start:\n    nop\n    ud2\n")
    s = Session(["--backend", debuggable, str(src)], ["stepi", "stepi", "print/x $pc", "kill"])
    out = s.gdb_output
    assert "Program received signal SIGILL, Illegal instruction." in out
    assert "$1 = 0x1001" in out and "[Inferior 1 (Remote target) killed]" in out
    assert s.returncode == 120  # kill after a fault: the run ends as the fault
    assert s.stderr.splitlines()[0] == "kasm: guest fault: invalid opcode (#UD) at RIP 0x1001"


def test_stepi_over_an_iret_the_vmm_completes_lands_where_it_returns(debuggable: str) -> None:
    """KVM here gives up on a protected-mode iret and the VMM completes it: one step."""
    s = Session(["--backend", debuggable, "examples/irq/tasks.S"], [
        "break tasks.S:113", "continue", "delete", "print/x *(int *)$esp", "stepi",
        "print/x $pc", "detach"])
    out = s.gdb_output
    returns_to = re.search(r"^\$1 = (0x[0-9a-f]+)$", out, re.M)
    assert returns_to and f"\n$2 = {returns_to[1]}\n" in out, out
    assert "SIGSEGV" not in out and s.returncode == 0


def _readme_gdb_transcript() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("$ gdb -q -ex 'target remote :1234' -ex 'set architecture i8086'\n")
    return readme[start:readme.index("```", start)]


def test_the_readmes_gdb_transcript_is_what_gdb_prints(debuggable: str) -> None:
    """Batch mode prints no prompts, no 'Remote debugging using' and no 'Continuing.': the
    README's interactive transcript is compared without them."""
    transcript = _readme_gdb_transcript().splitlines()[1:]
    commands = [ln.removeprefix("(gdb) ") for ln in transcript if ln.startswith("(gdb) ")]
    s = Session(["--backend", debuggable, "examples/hello.S"], ["set architecture i8086",
                                                                 *commands])

    def printed(lines: list[str]) -> list[str]:
        return [re.sub(r"/tmp/vmm-gdb-[^/]+/", "/tmp/vmm-gdb-X/", ln) for ln in lines
                if ln and not ln.startswith(("(gdb) ", "Remote debugging using", "Continuing."))]

    assert printed(s.gdb_output.splitlines()) == printed(transcript)
    assert s.stdout == "Jello, KVM!\n" and s.returncode == 0

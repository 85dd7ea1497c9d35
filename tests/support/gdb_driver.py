"""Driving Debian's gdb in batch mode against a GDB stub, for the tests: a real gdb over a real
socket on 127.0.0.1, and what it printed."""

from __future__ import annotations

import io
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from toy_cpu import ToyBackend

import vmm
from vmm.gdb.stub import GdbStub
from vmm.outcome import RunResult
from vmm.vocabulary import BootMode

GDB_SECONDS = 60  # the machines are shared and slow; a hung gdb fails the test, not the suite


def gdb_command(port: int, commands: Sequence[str], elf: str | None = None) -> list[str]:
    """gdb -batch -nx [ELF] -ex 'target remote :PORT' -ex COMMAND ..."""
    args = ["gdb", "-batch", "-nx"]
    if elf is not None:
        args.append(elf)
    args += ["-ex", f"target remote :{port}"]
    for c in commands:
        args += ["-ex", c]
    return args


def start_gdb(port: int, commands: Sequence[str], elf: str | None = None
              ) -> subprocess.Popen[str]:
    return subprocess.Popen(gdb_command(port, commands, elf), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def interrupt_when(gdb: subprocess.Popen[str], ready: Callable[[], bool]) -> None:
    """Ctrl-C for gdb (SIGINT: gdb sends the 0x03 byte) once `ready()` says the guest runs."""
    deadline = time.monotonic() + GDB_SECONDS
    while not ready() and time.monotonic() < deadline and gdb.poll() is None:
        time.sleep(0.02)
    time.sleep(0.2)  # gdb is waiting for the stop reply by now
    gdb.send_signal(signal.SIGINT)


class ToyRun:
    """A Machine on the toy vCPU (tests/support/toy_cpu.py) running ELF `elf` under a stub
    while gdb runs `commands`: the run's result, gdb's output and the guest's stdout."""

    def __init__(self, elf: str, mode: BootMode, commands: Sequence[str], *,
                 gdb_elf: bool = True, exec_file: bool = False, interrupt: bool = False
                 ) -> None:
        self.output = io.BytesIO()
        self.log: list[str] = []
        stub = GdbStub.listen(0, exec_file=elf if exec_file else None, log=self.log.append)
        self.machine = vmm.Machine(backend=ToyBackend, output=self.output)
        entry, _ = self.machine.load_elf(elf)
        self.result: RunResult | None = None
        thread = threading.Thread(target=self._run, args=(entry, mode, stub), daemon=True)
        thread.start()
        gdb = start_gdb(stub.port, commands, elf if gdb_elf else None)
        if interrupt:
            vcpu = self.machine.vcpu
            interrupt_when(gdb, lambda: vcpu.executed > 1000)  # type: ignore[attr-defined]
        try:
            self.gdb_output, _ = gdb.communicate(timeout=GDB_SECONDS)
        finally:
            if gdb.poll() is None:
                gdb.kill()
            thread.join(GDB_SECONDS)
            self.machine.close()
        self.gdb_returncode = gdb.returncode

    def _run(self, entry: int, mode: BootMode, stub: GdbStub) -> None:
        self.result = self.machine.run(entry, mode, monitor=stub)

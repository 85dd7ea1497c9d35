"""Signals while the main thread is inside the emulator: Ctrl-C, and the stopping signals
(SIGTERM, SIGHUP, SIGQUIT) the terminal guard handles.

Python runs a signal handler only between bytecodes of the main thread, and a guest that never
does I/O never brings that thread back from the engine. With `signal.set_wakeup_fd`, the
interpreter's C-level handler also writes the signal's number to a pipe; a relay thread reads it
and stops the engine the main thread runs (as the KVM backend's kick signal interrupts KVM_RUN),
so the run loop sees an interrupted run and the Python handler runs at once. Any signal with a
Python handler is relayed: a handler that does not stop the run costs one extra turn of the
run loop.
"""

from __future__ import annotations

import os
import signal
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vmm.emu.vcpu import EmuVcpu

_lock = threading.Lock()
_pipe: tuple[int, int] | None = None
_target: EmuVcpu | None = None
_installed = False  # our pipe is the wakeup fd


def _relay(read_end: int) -> None:
    while True:
        try:
            data = os.read(read_end, 64)
        except OSError:
            return
        if data:
            with _lock:
                target = _target
            if target is not None:
                target.kick()


def watch(vcpu: EmuVcpu) -> None:
    """Relay signals to `vcpu` while it runs on the main thread (no-op elsewhere, or when the
    program already uses a wakeup fd of its own)."""
    global _pipe, _target, _installed
    if _target is vcpu or threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        if _pipe is None:
            read_end, write_end = os.pipe()
            os.set_blocking(write_end, False)
            _pipe = (read_end, write_end)
            threading.Thread(target=_relay, args=(read_end,), daemon=True,
                             name="vmm-emu-signals").start()
        if not _installed:
            previous = signal.set_wakeup_fd(_pipe[1], warn_on_full_buffer=False)
            if previous not in (-1, _pipe[1]):
                signal.set_wakeup_fd(previous)  # not ours to replace
                return
            _installed = True
        _target = vcpu


def unwatch(vcpu: EmuVcpu) -> None:
    """Stop relaying to `vcpu`; give the wakeup fd back when nothing runs."""
    global _target, _installed
    with _lock:
        if _target is not vcpu:
            return
        _target = None
        if _installed and threading.current_thread() is threading.main_thread():
            signal.set_wakeup_fd(-1)
            _installed = False

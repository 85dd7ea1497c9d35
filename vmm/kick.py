"""Stopping a vCPU that never exits: a watchdog timer and Ctrl-C.

KVM_RUN only returns to us on a guest exit or a pending signal. A kick therefore sets
kvm_run.immediate_exit (so a KVM_RUN about to start returns at once) and then sends KICK_SIGNAL
to the vCPU thread (so a KVM_RUN already in the guest returns EINTR). The signal's handler is a
C function that does nothing, installed once with sigaction: it works from any thread, and no
Python code runs in signal context.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from vmm.kvm import Vcpu
from vmm.kvm._abi import ffi, libc

KICK_SIGNAL = signal.SIGRTMIN

_ffi = ffi
_libc = libc
_installed = False
_install_lock = threading.Lock()


def install_kick_handler() -> None:
    """Give KICK_SIGNAL a do-nothing handler (unless someone already handles it)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        old = _ffi.new("struct sigaction *")
        _libc.sigaction(KICK_SIGNAL, _ffi.NULL, old)
        if old.sa_handler == _ffi.NULL:  # SIG_DFL would kill the process; SIG_IGN drops it
            act = _ffi.new("struct sigaction *")
            # getppid ignores its argument, touches no memory and is async-signal-safe.
            act.sa_handler = _ffi.cast("void *", _ffi.addressof(_libc, "getppid"))
            if _libc.sigaction(KICK_SIGNAL, act, _ffi.NULL) != 0:
                raise OSError(_ffi.errno, "sigaction for the vCPU kick signal failed")
        elif int(_ffi.cast("intptr_t", old.sa_handler)) == 1:  # SIG_IGN: replace it too
            act = _ffi.new("struct sigaction *")
            act.sa_handler = _ffi.cast("void *", _ffi.addressof(_libc, "getppid"))
            _libc.sigaction(KICK_SIGNAL, act, _ffi.NULL)
        _installed = True


class Stopper:
    """Stops one vCPU thread's run loop from anywhere; the first reason given wins."""

    def __init__(self, vcpu: Vcpu) -> None:
        install_kick_handler()
        self._vcpu = vcpu
        self._thread_id = threading.get_ident()
        self._lock = threading.Lock()
        self._done = False
        self.reason: str | None = None

    def kick(self, reason: str) -> None:
        with self._lock:
            if self._done or self.reason is not None:
                return
            self.reason = reason
            self._vcpu.immediate_exit = True
            try:
                signal.pthread_kill(self._thread_id, KICK_SIGNAL)
            except (ProcessLookupError, OSError):
                pass

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        # No KeyboardInterrupt: the run loop ends at its next KVM_RUN, so the exit that SIGINT
        # caused is counted, and devices waiting for input poll immediate_exit.
        self.kick("interrupted")

    @contextmanager
    def armed(self, timeout: float | None) -> Iterator[Stopper]:
        """Watchdog for `timeout` seconds, and Ctrl-C -> "interrupted" when on the main thread."""
        timer = None
        old_sigint = None
        main = threading.current_thread() is threading.main_thread()
        if main:
            old_sigint = signal.signal(signal.SIGINT, self._on_sigint)
        if timeout is not None and math.isfinite(timeout):  # inf: no watchdog; nan: none either
            timer = threading.Timer(min(max(timeout, 0.0), threading.TIMEOUT_MAX), self.kick,
                                    ("timeout",))
            timer.daemon = True
            timer.start()
        try:
            yield self
        finally:
            with self._lock:
                self._done = True
            if timer is not None:
                timer.cancel()
                timer.join()
            if main and old_sigint is not None:
                signal.signal(signal.SIGINT, old_sigint)
            self._vcpu.immediate_exit = False

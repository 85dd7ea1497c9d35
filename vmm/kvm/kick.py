"""The signal that kicks a vCPU thread out of KVM_RUN.

KVM_RUN returns to us only on a guest exit or a pending signal. A stop request therefore sets
kvm_run.immediate_exit and sends KICK_SIGNAL to the thread in KVM_RUN. The signal's handler is
a C function that does nothing, installed once with sigaction: it works from any thread, and
no Python code runs in signal context.
"""

from __future__ import annotations

import signal
import threading

from vmm.kvm._abi import ffi, libc

KICK_SIGNAL = signal.SIGRTMIN

_installed = False
_install_lock = threading.Lock()


def install_kick_handler() -> None:
    """Give KICK_SIGNAL a do-nothing handler (unless someone already handles it)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        old = ffi.new("struct sigaction *")
        libc.sigaction(KICK_SIGNAL, ffi.NULL, old)
        default_or_ignored = old.sa_handler == ffi.NULL or int(
            ffi.cast("intptr_t", old.sa_handler)) == 1  # SIG_DFL would kill; SIG_IGN drops it
        if default_or_ignored:
            act = ffi.new("struct sigaction *")
            # getppid ignores its argument, touches no memory and is async-signal-safe.
            act.sa_handler = ffi.cast("void *", ffi.addressof(libc, "getppid"))
            if libc.sigaction(KICK_SIGNAL, act, ffi.NULL) != 0:
                raise OSError(ffi.errno, "sigaction for the vCPU kick signal failed")
        _installed = True

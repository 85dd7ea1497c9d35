"""Stopping a run that will not end by itself: a watchdog timer, Ctrl-C, or another vCPU.

Every vCPU backend can be asked to stop from any thread (VcpuBackend.request_stop). RunControl
holds the one reason a run was stopped for (the first one given wins), which vCPU's end it was
(None for the watchdog and Ctrl-C), and asks every vCPU of the run to stop.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from vmm.backend import VcpuBackend
from vmm.vocabulary import RunEnd


class RunControl:
    """The stop switch of one run over its vCPUs."""

    def __init__(self, vcpus: Sequence[VcpuBackend]) -> None:
        self._vcpus = list(vcpus)
        # Re-entrant: the SIGINT handler runs on the main thread, perhaps inside stop() itself
        self._lock = threading.RLock()
        self._done = False
        self.reason: RunEnd | None = None
        self.stopped_by: int | None = None  # the vCPU whose end stopped the run

    @property
    def stopping(self) -> bool:
        return self.reason is not None

    def stop(self, reason: RunEnd, by: int | None = None) -> bool:
        """Stop every vCPU of the run as soon as possible, for `reason`, which the end of vCPU
        `by` is (None: from outside the guest). The first call wins; returns whether this
        one did."""
        with self._lock:
            if self._done or self.reason is not None:
                return False
            self.reason = reason
            self.stopped_by = by
            for vcpu in self._vcpus:
                vcpu.request_stop()
            return True

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        # No KeyboardInterrupt: the run loop ends at its next exit, so the exit that SIGINT
        # caused is counted, and devices waiting for input see `stopping`.
        self.stop(RunEnd.INTERRUPTED)

    @contextmanager
    def armed(self, timeout: float | None) -> Iterator[RunControl]:
        """A watchdog for `timeout` seconds (None or 0: none), and Ctrl-C -> INTERRUPTED
        when called on the main thread."""
        timer = None
        old_sigint = None
        main = threading.current_thread() is threading.main_thread()
        if main:
            old_sigint = signal.signal(signal.SIGINT, self._on_sigint)
        if timeout and math.isfinite(timeout) and timeout > 0:
            timer = threading.Timer(min(timeout, threading.TIMEOUT_MAX), self.stop,
                                    (RunEnd.TIMEOUT,))
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
            for vcpu in self._vcpus:
                vcpu.clear_stop()

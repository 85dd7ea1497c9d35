"""The alarm clock of the interrupt controller: a thread that sleeps until the next moment
something could interrupt the guest (the timer's next edge, input arriving on a descriptor),
then says so once.

The vCPU's thread owns every device; this thread only waits. It fires at most once per target
it was given, then waits for a new one, so a target that cannot be served yet (a descriptor
that stays readable, a tick the guest is not taking) never makes it spin; and it never fires
sooner than MIN_GAP_NS after its last firing, which bounds the host CPU a guest can make it use
whatever rate it programs.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable

MIN_GAP_NS = 100_000  # at most 10,000 alarms a second
NS_PER_S = 1_000_000_000

Target = tuple[int | None, int | None]  # (monotonic ns deadline, descriptor to watch)
NOTHING: Target = (None, None)


class Alarm:
    """Calls `fire(input_ready)` on its own thread when the target's deadline passes
    (input_ready False) or its descriptor becomes readable (True)."""

    def __init__(self, fire: Callable[[bool], None],
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._fire = fire
        self._clock = clock
        self._lock = threading.Lock()
        self._target: Target = NOTHING
        self._version = 0
        self._last_fired = 0
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name="vmm-interrupt-alarm",
                                        daemon=True)
        self._thread.start()

    def set(self, target: Target) -> None:
        """Wait for `target` from now on (a no-op when it is the one already waited for)."""
        with self._lock:
            if target == self._target or self._closed:
                return
            self._target = target
            self._version += 1
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # already full of wake-ups

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        self._thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                (deadline, fd), version = self._target, self._version
            watched = [self._wake_r] if fd is None else [self._wake_r, fd]
            timeout = None
            if deadline is not None:
                due = max(deadline, self._last_fired + MIN_GAP_NS)
                timeout = max(0, due - self._clock()) / NS_PER_S
            try:
                readable, _, _ = select.select(watched, [], [], timeout)
            except (OSError, ValueError):
                readable = []  # the descriptor went away: treat it as readable (EOF)
                if fd is None:
                    continue
                readable = [fd]
            if self._wake_r in readable:
                try:
                    os.read(self._wake_r, 4096)
                except BlockingIOError:
                    pass
                continue
            with self._lock:
                if version != self._version or self._closed:
                    continue  # a new target came while waiting
                self._target = NOTHING
            self._last_fired = self._clock()
            self._fire(fd is not None and fd in readable)

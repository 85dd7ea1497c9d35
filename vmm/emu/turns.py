"""Several emulated vCPUs take turns: one engine runs guest code at a time.

unicorn 2.1 has no multi-threaded TCG: an engine makes `lock`-prefixed instructions atomic only
against itself, so engines running in parallel over one memory would race. Instead the vCPUs'
threads pass one turn round. The vCPU whose turn it is runs a slice of SLICE_BLOCKS translated
blocks (a block hook counts them and stops the engine before the next block: an instruction
boundary), then hands the turn to the next vCPU waiting for it, in the order of their ids.
Every instruction is therefore atomic across vCPUs, and a vCPU spinning on a lock that another
holds only uses up its own slice: the holder runs on in the next one. An engine does not see
code that another engine writes, so a vCPU whose turn comes back after others ran drops its
translated blocks.

A vCPU also gives the turn away at a HLT and when its run is stopped. One that stays outside
the engine longer than TAKEOVER_S (blocked in a device, waiting for input) loses the turn to
the next waiting vCPU, so it cannot hold the others up.
"""

from __future__ import annotations

import threading
from time import perf_counter

from vmm import exits as ex

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from vmm.emu.vcpu import EmuVcpu

# ~0.6 ms of guest code at the block hook's ~0.3 us a block: short enough for vCPUs that wait
# for each other (a turn-taking guest), long enough that a switch (a thread wakes, ~50 us, and
# the engine translates its code again) costs ~10% of a compute-bound vCPU's time
SLICE_BLOCKS = 2_000
TAKEOVER_S = 0.02
# What the engine's run returns when the slice ran out (never seen by the run loop)
SLICE_OVER = ex.Interrupted()


class Turns:
    """The turn that the vCPUs of one VM pass round."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None  # whose turn it is
        self._waiting: set[int] = set()
        self._inside = False  # the owner is running guest code
        self._left_at = 0.0  # when the owner last came out of the engine (or got the turn)
        self.switches = 0  # how often the turn went to another vCPU
        self._last: int | None = None  # the vCPU that ran guest code last

    def run(self, vcpu: EmuVcpu, run_alone: Callable[[], ex.Exit]) -> ex.Exit:
        """`run_alone` (the engine's own run) in `vcpu`'s turns, until an exit."""
        while True:
            if not self._enter(vcpu):
                return ex.INTERRUPTED
            if self._last != vcpu.index:  # others ran since: they may have written code
                self._last = vcpu.index
                vcpu.engine.flush_translations()
            exit = run_alone()
            self._left_at = perf_counter()
            self._inside = False
            if exit is SLICE_OVER:
                self._pass_on(vcpu.index)
                continue
            if type(exit) is ex.Hlt or vcpu.stop_requested:
                self.release(vcpu.index)
            return exit

    def _enter(self, vcpu: EmuVcpu) -> bool:
        """Wait for `vcpu`'s turn (True), or until it is asked to stop (False)."""
        index = vcpu.index
        with self._cond:
            if self._owner is None:
                self._owner = index
            if self._owner != index:
                self._waiting.add(index)
                try:
                    while self._owner != index:
                        if vcpu.stop_requested:
                            return False
                        if not self._cond.wait(TAKEOVER_S):
                            self._take_over_if_blocked()
                finally:
                    self._waiting.discard(index)
            self._inside = True
            return True

    def _take_over_if_blocked(self) -> None:
        if not self._inside and perf_counter() - self._left_at >= TAKEOVER_S:
            self._hand_to_next(self._owner)

    def _pass_on(self, index: int) -> None:
        """The end of `index`'s slice: the next waiting vCPU's turn, if one waits."""
        if self._waiting:
            with self._cond:
                if self._owner == index and self._waiting:
                    self._hand_to_next(index)

    def release(self, index: int) -> None:
        """`index` is done with the turn for now (it halted, or its run ends)."""
        with self._cond:
            if self._owner == index:
                self._inside = False
                self._hand_to_next(index)

    def wake(self) -> None:
        """A stop was requested: waiting vCPUs look whether it is theirs."""
        with self._cond:
            self._cond.notify_all()

    def _hand_to_next(self, after: int | None) -> None:
        """The turn goes to the waiting vCPU next after `after` in id order (none: nobody's)."""
        start = -1 if after is None else after
        following = min(self._waiting, key=lambda i: (i <= start, i), default=None)
        if following is not None and following != after:
            self.switches += 1
        self._owner = following
        self._left_at = perf_counter()
        self._cond.notify_all()

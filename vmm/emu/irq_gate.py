"""External interrupts for an emulated vCPU: what KVM's KVM_INTERRUPT, interrupt window and
kick do, for an engine that has no interrupt line.

unicorn runs translated blocks until something stops it, and a stop requested from outside
(uc_emu_stop) returns exactly as a HLT does, so the two could not be told apart. Once a guest
uses interrupts, a hook at the start of every translated block (~0.25 us a block) stops the
engine instead, at an instruction boundary, when a kick is pending or when an interrupt window
was asked for and IF is set outside an interrupt shadow. QEMU ends a block after `sti`, `popf`
and `iret`, and gives the instruction after `sti` a block of its own, so the window opens
exactly where a CPU would take the interrupt. With several vCPUs (vmm.emu.turns) the hook is
there from the start and also ends each vCPU's slice, counting blocks.
"""

from __future__ import annotations

from collections.abc import Callable

from vmm.cpu import EFLAGS_IF
from vmm.emu import engine as e
from vmm.emu import state as st

EFLAGS_WORD, HFLAGS_WORD = st.EFLAGS // 8, e.HFLAGS // 8
HF_INHIBIT_IRQ = 1 << 3  # the instruction after sti / mov ss: no interrupt before it
KICKED, WINDOW, SLICE_END = 1, 2, 3  # why the block hook stopped the engine


class IrqGate:
    """The injected vector, the window asked for, the kick, and the block hook that serves
    the last two. `save` refreshes the engine's state copy `words`; `stop` stops the engine;
    `failed` reports an exception raised in the hook (hooks must not raise)."""

    def __init__(self, engine: e.Engine, save: Callable[[], object], words: memoryview,
                 stop: Callable[[], object], failed: Callable[[BaseException], None]) -> None:
        self._engine = engine
        self._save = save
        self._words = words
        self._stop = stop
        self._failed = failed
        self.hooked = False
        self.pending_vector: int | None = None
        self.want_window = False
        self.kick_pending = False
        self.stopped_for = 0  # KICKED, WINDOW or SLICE_END: set by the hook for this run
        self._thunk: object = None
        self._slice = 0
        self.left = 0  # blocks left in this slice

    def install(self, slice_blocks: int = 0) -> None:
        """Hook every translated block from now on (once); with `slice_blocks`, also stop the
        engine after every that many blocks (vmm.emu.turns)."""
        if self.hooked:
            return
        self._slice = self.left = slice_blocks
        if slice_blocks:
            self._thunk = e.BARE_BLOCK_HOOK(self._on_sliced_block)
        else:
            self._thunk = e.BLOCK_HOOK(self._on_block)
        self._engine.hook(e.UC_HOOK_BLOCK, self._thunk)
        self._engine.flush_translations()  # blocks translated before the hook would skip it
        self.hooked = True

    def interruptible(self) -> bool:
        """IF set and no interrupt shadow, in the state copy."""
        words = self._words
        return bool(words[EFLAGS_WORD] & EFLAGS_IF) and not words[HFLAGS_WORD] & HF_INHIBIT_IRQ

    def ready(self) -> bool:
        return self.pending_vector is None and self.interruptible()

    def _on_block(self, handle: int, address: int, size: int, data: int) -> None:
        try:
            if self.kick_pending:
                self.kick_pending = False
                self.stopped_for = KICKED
                self._stop()
            elif self.want_window:
                self._save()
                if self.interruptible():
                    self.stopped_for = WINDOW
                    self._stop()
        except BaseException as exc:  # noqa: BLE001 - reported by the vCPU's run()
            self._failed(exc)

    def _on_sliced_block(self) -> None:
        left = self.left
        if left:  # this block is in the slice
            self.left = left - 1
            if self.kick_pending or self.want_window:
                self._on_block(0, 0, 0, 0)
            return
        self.left = self._slice  # the next slice starts with this block
        self.stopped_for = SLICE_END
        self._stop()

    def take_stop(self, other_event: bool) -> int:
        """After a run: why the hook stopped it (0: it did not). A kick that lost the race to
        another event stays pending for the next run."""
        why, self.stopped_for = self.stopped_for, 0
        if why == KICKED and other_event:
            self.kick_pending = True
            return 0
        return why


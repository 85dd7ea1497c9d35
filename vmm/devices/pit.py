"""The 8254 programmable interval timer at ports 0x40-0x43: three 16-bit counters at
1.193182 MHz of host real time; channel 0's output drives IRQ0.

The counters are not ticked one by one: a channel remembers when its count was loaded, and
what the guest reads (a count, a latched count, the read-back status) and the edges its output
makes are computed from the clock when they are looked at. Modes 0, 2, 3 and 4 count as on the
chip; modes 1 and 5 wait for a rising edge on their gate, which never comes here (the gates
are tied high and port 0x61, which drives channel 2's on a PC, is not emulated). At boot the
timer is as a PC BIOS leaves it: channel 0 in mode 3 with count 65536 (18.2 Hz).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vmm.device import Action, CpuView, Device

PIT_PORT = 0x40
PIT_PORTS = 4
PIT_HZ = 1_193_182
NS_PER_S = 1_000_000_000
CONTROL = 3

ACCESS_LATCH, ACCESS_LOW, ACCESS_HIGH, ACCESS_WORD = 0, 1, 2, 3
READ_BACK = 3  # the channel field of a control word that is a read-back command
STATUS_OUT = 0x80
STATUS_NULL_COUNT = 0x40


def _from_bcd(value: int) -> int:
    return sum(((value >> (4 * i)) & 0xF) * 10**i for i in range(4))


def _to_bcd(value: int) -> int:
    return sum((value // 10**i % 10) << (4 * i) for i in range(4))


class PitChannel:
    """One counter: its mode, its count, when the count was loaded, and its read/write latches."""

    def __init__(self, mode: int = 0, count: int | None = None, now: int = 0) -> None:
        self.mode = mode
        self.bcd = False
        self.access = ACCESS_WORD
        self.reload = 0  # as written: 0 means the largest count
        self.loaded_at: int | None = None  # ns; None: no count loaded since the control word
        self.low_written: int | None = None  # the low byte of a word being written
        self.read_high = False  # the next read of a word is its high byte
        self.latch: list[int] = []  # latched bytes, read first
        self.status: int | None = None  # a latched read-back status
        if count is not None:
            self.load(count, now)

    @property
    def period(self) -> int:
        """The count in clocks (65536 or 10000 for a count of 0)."""
        if self.bcd:
            return _from_bcd(self.reload) or 10000
        return self.reload or 0x10000

    @property
    def counting(self) -> bool:
        """Modes 1 and 5 start on a gate edge, which never comes (gates are tied high)."""
        return self.loaded_at is not None and self.mode not in (1, 5)

    def load(self, value: int, now: int) -> None:
        self.reload = value & 0xFFFF
        self.loaded_at = now

    def clocks(self, now: int) -> int:
        assert self.loaded_at is not None
        return max(0, now - self.loaded_at) * PIT_HZ // NS_PER_S

    def count(self, now: int) -> int:
        """The value the counter holds now, as the guest reads it."""
        if not self.counting:
            return self.reload
        n, d = self.period, self.clocks(now)
        if self.mode == 2:
            value = n - d % n
        elif self.mode == 3:
            value = (n - (2 * d) % n) & 0xFFFE
        else:  # 0 and 4 count down through 0 and wrap
            value = (n - d) % (10000 if self.bcd else 0x10000)
        return _to_bcd(value) if self.bcd else value & 0xFFFF

    def out(self, now: int) -> bool:
        """The output pin's level now."""
        if self.loaded_at is None:
            return self.mode != 0
        if not self.counting:
            return True
        n, d = self.period, self.clocks(now)
        if self.mode == 0:
            return d >= n
        if self.mode == 2:
            return d % n != n - 1
        if self.mode == 3:
            return d % n < (n + 1) // 2
        return d != n  # mode 4: low for the one clock at the end of the count

    def _edge(self, k: int) -> int | None:
        """The clock of the k-th rising edge of the output since the load (k >= 1)."""
        n = self.period
        if self.mode in (2, 3):
            return k * n
        if k > 1:
            return None
        return n if self.mode == 0 else n + 1

    def edges(self, since: int, now: int) -> int:
        """How many rising edges the output made in the clocks (since, now]."""
        if not self.counting:
            return 0
        d0, d1 = self.clocks(since), self.clocks(now)
        if self.mode in (2, 3):
            return d1 // self.period - d0 // self.period
        edge = self._edge(1)
        return int(edge is not None and d0 < edge <= d1)

    def next_edge(self, now: int) -> int | None:
        """The time (ns) of the output's next rising edge after `now`, if it makes one."""
        if not self.counting:
            return None
        assert self.loaded_at is not None
        d = self.clocks(now)
        edge = (d // self.period + 1) * self.period if self.mode in (2, 3) else self._edge(1)
        if edge is None or edge <= d:
            return None
        # the first ns at which clocks() reaches `edge`
        return self.loaded_at + -(-edge * NS_PER_S // PIT_HZ)

    # --- the guest's view -------------------------------------------------------------------
    def control(self, value: int) -> None:
        """A control word for this channel (not a latch command)."""
        self.access = value >> 4 & 3
        mode = value >> 1 & 7
        self.mode = mode & 3 if mode >= 6 else mode  # 6 and 7 are 2 and 3
        self.bcd = bool(value & 1)
        self.loaded_at = None
        self.low_written = None
        self.read_high = False
        self.latch = []
        self.status = None

    def latch_count(self, now: int) -> None:
        if self.latch:
            return  # a second latch before the first is read does nothing
        value = self.count(now)
        low, high = value & 0xFF, value >> 8
        self.latch = ([low] if self.access == ACCESS_LOW else [high]
                      if self.access == ACCESS_HIGH else [low, high])

    def latch_status(self, now: int) -> None:
        if self.status is None:
            self.status = ((STATUS_OUT if self.out(now) else 0)
                           | (STATUS_NULL_COUNT if self.loaded_at is None else 0)
                           | self.access << 4 | self.mode << 1 | int(self.bcd))

    def write(self, value: int, now: int) -> None:
        if self.access == ACCESS_LOW:
            self.load(value, now)
        elif self.access == ACCESS_HIGH:
            self.load(value << 8, now)
        elif self.low_written is None:
            self.low_written = value
        else:
            self.load(self.low_written | value << 8, now)
            self.low_written = None

    def read(self, now: int) -> int:
        if self.status is not None:
            value, self.status = self.status, None
            return value
        if self.latch:
            return self.latch.pop(0)
        value = self.count(now)
        if self.access == ACCESS_LOW:
            return value & 0xFF
        if self.access == ACCESS_HIGH:
            return value >> 8
        self.read_high = not self.read_high
        return value & 0xFF if self.read_high else value >> 8


class Pit(Device):
    """Ports 0x40-0x42 (channels 0-2) and 0x43 (control). `clock` gives monotonic ns."""

    def __init__(self, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.clock = clock
        now = clock()
        self.channels = (PitChannel(3, 0, now), PitChannel(2, 18, now), PitChannel())
        self._seen = now  # when channel 0's edges were last counted
        self.changed = False  # a write reprogrammed channel 0 since the flag was cleared

    def io_write(self, offset: int, data: bytes, cpu: CpuView) -> Action | None:
        now = self.clock()
        for i, value in enumerate(data):
            port = offset + i
            if port == CONTROL:
                self._control(value, now)
            elif port < CONTROL:
                self.channels[port].write(value, now)
                self.changed |= port == 0
        return None

    def _control(self, value: int, now: int) -> None:
        channel = value >> 6
        if channel == READ_BACK:
            for i, ch in enumerate(self.channels):
                if value & (2 << i):
                    if not value & 0x20:
                        ch.latch_count(now)
                    if not value & 0x10:
                        ch.latch_status(now)
            return
        ch = self.channels[channel]
        if value >> 4 & 3 == ACCESS_LATCH:
            ch.latch_count(now)
            return
        ch.control(value)
        self.changed |= channel == 0

    def io_read(self, offset: int, size: int) -> bytes:
        now = self.clock()
        return bytes(self.channels[offset + i].read(now) if offset + i < CONTROL else 0xFF
                     for i in range(size))

    # --- IRQ0 -------------------------------------------------------------------------------
    def irq0_edges(self, now: int) -> int:
        """Rising edges of channel 0's output since the last call (coalesced by the caller)."""
        ch = self.channels[0]
        since = self._seen if ch.loaded_at is None else max(self._seen, ch.loaded_at)
        self._seen = now
        return ch.edges(since, now) if since < now else 0

    def irq0_out(self, now: int) -> bool:
        return self.channels[0].out(now)

    def next_irq0_edge(self, now: int) -> int | None:
        return self.channels[0].next_edge(now)

"""The 8254 against a clock the test sets: counts, latches, read-back, modes, and the edges
channel 0 makes on IRQ0 (no vCPU needed)."""

from __future__ import annotations

import pytest

from vmm.devices.pit import PIT_HZ, Pit

NS = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.ns = 1_000 * NS

    def __call__(self) -> int:
        return self.ns

    def clocks(self, n: int) -> None:
        """Move on by n timer clocks (rounded up to a whole ns)."""
        self.ns += -(-n * NS // PIT_HZ)


CPU = None  # io_write's CpuView: the PIT never looks at it


def program(pit: Pit, channel: int, mode: int, count: int, access: int = 3,
            bcd: bool = False) -> None:
    pit.io_write(3, bytes([channel << 6 | access << 4 | mode << 1 | int(bcd)]), CPU)
    if access in (1, 3):
        pit.io_write(channel, bytes([count & 0xFF]), CPU)
    if access in (2, 3):
        pit.io_write(channel, bytes([count >> 8 & 0xFF]), CPU)


def read_word(pit: Pit, channel: int) -> int:
    low = pit.io_read(channel, 1)[0]
    return low | pit.io_read(channel, 1)[0] << 8


def test_at_boot_channel_0_runs_at_18_2_hz_in_mode_3() -> None:
    clock = Clock()
    pit = Pit(clock)
    assert pit.next_irq0_edge(clock()) == clock() + -(-0x10000 * NS // PIT_HZ)
    clock.clocks(0x10000 * 3)
    assert pit.irq0_edges(clock()) == 3


def test_mode_2_counts_down_and_makes_an_edge_every_period() -> None:
    clock = Clock()
    pit = Pit(clock)
    program(pit, 0, 2, 1000)
    pit.irq0_edges(clock())
    clock.clocks(250)
    assert read_word(pit, 0) == 750
    clock.clocks(750)
    assert pit.irq0_edges(clock()) == 1 and pit.irq0_out(clock())
    clock.clocks(999)
    assert not pit.irq0_out(clock())  # low for the one clock at count 1
    clock.clocks(10_001)
    assert pit.irq0_edges(clock()) == 11  # 2000, 3000, ..., 12000: the caller coalesces


def test_next_edge_is_when_the_clocks_reach_the_count() -> None:
    clock = Clock()
    pit = Pit(clock)
    program(pit, 0, 2, 11932)
    start = clock()
    first = pit.next_irq0_edge(start)
    assert first is not None and abs(first - start - 10_000_000) < 1_000  # 100 Hz
    clock.ns = first - 1
    assert pit.irq0_edges(clock()) == 0
    clock.ns = first
    assert pit.irq0_edges(clock()) == 1


def test_mode_3_is_a_square_wave_counting_by_two() -> None:
    clock = Clock()
    pit = Pit(clock)
    program(pit, 0, 3, 100)
    clock.clocks(10)
    assert read_word(pit, 0) == 80 and pit.irq0_out(clock())
    clock.clocks(45)
    assert not pit.irq0_out(clock())
    clock.clocks(45)
    assert pit.irq0_out(clock()) and pit.irq0_edges(clock()) == 1


def test_mode_0_makes_one_edge_at_terminal_count() -> None:
    clock = Clock()
    pit = Pit(clock)
    program(pit, 0, 0, 500)
    assert not pit.irq0_out(clock())
    clock.clocks(499)
    assert pit.irq0_edges(clock()) == 0
    clock.clocks(1)
    assert pit.irq0_edges(clock()) == 1 and pit.irq0_out(clock())
    clock.clocks(100_000)
    assert pit.irq0_edges(clock()) == 0 and pit.next_irq0_edge(clock()) is None


def test_mode_4_strobes_once() -> None:
    clock = Clock()
    pit = Pit(clock)
    program(pit, 0, 4, 10)
    clock.clocks(10)
    assert not pit.irq0_out(clock())
    clock.clocks(1)
    assert pit.irq0_edges(clock()) == 1 and pit.next_irq0_edge(clock()) is None


@pytest.mark.parametrize("mode", [1, 5])
def test_gate_triggered_modes_never_start(mode: int) -> None:
    clock = Clock()
    pit = Pit(clock)
    program(pit, 0, mode, 10)
    clock.clocks(1000)
    assert pit.irq0_edges(clock()) == 0 and pit.next_irq0_edge(clock()) is None
    assert read_word(pit, 0) == 10


def test_a_control_word_stops_the_channel_until_its_count_is_written() -> None:
    clock = Clock()
    pit = Pit(clock)
    pit.io_write(3, bytes([0x34]), CPU)
    assert pit.next_irq0_edge(clock()) is None
    pit.io_write(0, b"\x10", CPU)
    assert pit.next_irq0_edge(clock()) is None  # only the low byte so far
    pit.io_write(0, b"\x00", CPU)
    assert pit.next_irq0_edge(clock()) is not None and pit.changed


def test_latch_freezes_the_count_until_read() -> None:
    clock = Clock()
    pit = Pit(clock)
    program(pit, 2, 2, 0x1234)
    clock.clocks(0x34)
    pit.io_write(3, bytes([0x80]), CPU)  # latch channel 2
    clock.clocks(0x100)
    assert read_word(pit, 2) == 0x1200
    assert read_word(pit, 2) == 0x1100


def test_low_and_high_byte_only_access() -> None:
    clock = Clock()
    pit = Pit(clock)
    program(pit, 1, 2, 0x80, access=1)
    assert pit.channels[1].period == 0x80
    clock.clocks(0x10)
    assert pit.io_read(1, 1) == b"\x70" and pit.io_read(1, 1) == b"\x70"
    program(pit, 1, 2, 0x0200, access=2)
    assert pit.channels[1].period == 0x200
    assert pit.io_read(1, 1) == b"\x02"


def test_read_back_latches_status_and_count() -> None:
    clock = Clock()
    pit = Pit(clock)
    program(pit, 0, 2, 100)
    clock.clocks(40)
    pit.io_write(3, bytes([0xC2]), CPU)  # read-back: count and status of channel 0
    status = pit.io_read(0, 1)[0]
    assert status == 0x80 | 0x30 | 2 << 1  # OUT high, low/high access, mode 2
    assert read_word(pit, 0) == 60
    pit.io_write(3, bytes([0x34]), CPU)
    pit.io_write(3, bytes([0xE2]), CPU)  # status only: a null count now
    assert pit.io_read(0, 1)[0] & 0x40


def test_bcd_counts_in_decimal() -> None:
    clock = Clock()
    pit = Pit(clock)
    program(pit, 0, 2, 0x1000, bcd=True)  # 1000 in BCD
    assert pit.channels[0].period == 1000
    clock.clocks(1)
    assert read_word(pit, 0) == 0x0999


def test_the_control_port_reads_as_nothing() -> None:
    assert Pit(Clock()).io_read(3, 1) == b"\xff"

"""The UART's interrupt: IER enables its sources, IIR names the pending one, and the output
level follows (no vCPU needed)."""

from __future__ import annotations

import io
import os

from vmm.devices.console import ConsoleInput, ConsoleOutput
from vmm.devices.uart import Uart

RBR, IER, IIR, LCR, LSR = 0, 1, 2, 3, 5


class Line:
    def __init__(self) -> None:
        self.levels: list[bool] = []

    def __call__(self, level: bool) -> None:
        self.levels.append(level)


def uart(data: bytes | None = b"") -> tuple[Uart, Line, ConsoleOutput]:
    out, line = ConsoleOutput(io.BytesIO()), Line()
    source = None if data is None else io.BytesIO(data)
    return Uart(out, ConsoleInput(source), irq=line), line, out


def read(u: Uart, reg: int) -> int:
    return u.io_read(reg, 1)[0]


def write(u: Uart, reg: int, value: int) -> None:
    u.io_write(reg, bytes([value]), None)  # type: ignore[arg-type]


def test_no_interrupt_without_ier() -> None:
    u, line, _ = uart(b"abc")
    assert read(u, IIR) == 0x01 and read(u, RBR) == ord("a")
    assert line.levels == [] and not u.may_interrupt()


def test_received_data_interrupts_until_the_input_is_drained() -> None:
    u, line, _ = uart(b"hi")
    write(u, IER, 0x01)
    assert line.levels == [True] and read(u, IIR) == 0x04
    assert read(u, RBR) == ord("h")
    assert line.levels == [True]  # the next byte is there: still up
    assert read(u, RBR) == ord("i")
    assert line.levels == [True, False] and read(u, IIR) == 0x01
    assert not u.may_interrupt()  # at the end, nothing more can come


def test_the_end_of_input_is_a_line_status_interrupt_until_lsr_is_read() -> None:
    u, line, _ = uart(b"x")
    write(u, IER, 0x05)
    assert read(u, IIR) == 0x04
    read(u, RBR)
    assert read(u, IIR) == 0x06  # receiver line status: the break at the end
    assert read(u, LSR) & 0x10
    assert read(u, IIR) == 0x01 and line.levels == [True, False]
    assert read(u, LSR) & 0x10  # BI stays visible to a polling guest
    assert line.levels == [True, False] and not u.may_interrupt()


def test_no_input_at_all_is_a_break_at_once() -> None:
    u, line, _ = uart(None)
    write(u, IER, 0x04)
    assert line.levels == [True] and read(u, IIR) == 0x06


def test_transmitter_empty_interrupts_when_enabled_and_after_each_write() -> None:
    u, line, out = uart()
    write(u, IER, 0x02)
    assert line.levels == [True] and u.may_interrupt()
    assert read(u, IIR) == 0x02  # reported: cleared
    assert line.levels == [True, False] and read(u, IIR) == 0x01
    write(u, RBR, ord("A"))
    assert out.bytes_written == 1 and line.levels == [True, False, True]
    write(u, RBR, ord("B"))  # writing THR clears it, and it is empty again at once
    assert read(u, IIR) == 0x02 and line.levels[-1] is False


def test_priority_line_status_then_data_then_transmitter() -> None:
    u, _, _ = uart(b"z")
    write(u, IER, 0x07)
    assert read(u, IIR) == 0x04  # data before the transmitter
    read(u, RBR)
    assert read(u, IIR) == 0x06  # the break before the transmitter
    read(u, LSR)
    assert read(u, IIR) == 0x02


def test_ier_keeps_its_four_bits_and_dlab_reaches_the_divisor() -> None:
    u, line, _ = uart()
    write(u, LCR, 0x80)
    write(u, IER, 0xFF)  # DLM, not IER
    assert line.levels == [] and read(u, IER) == 0xFF
    write(u, LCR, 0x03)
    write(u, IER, 0xF8)
    assert read(u, IER) == 0x08 and line.levels == []  # modem status: never interrupts


def test_fifo_bits_in_iir() -> None:
    u, _, _ = uart(b"q")
    write(u, IIR, 0x01)  # FCR: FIFOs on
    write(u, IER, 0x01)
    assert read(u, IIR) == 0xC4


def test_a_pipe_is_watched_only_while_no_byte_is_waiting() -> None:
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, "rb", buffering=0) as source:
            line = Line()
            u = Uart(ConsoleOutput(io.BytesIO()), ConsoleInput(source), irq=line)
            assert u.watch_fd() is None  # interrupts off: nothing to watch
            write(u, IER, 0x01)
            assert u.watch_fd() == read_end and line.levels == []
            os.write(write_end, b"k")
            u.poll()
            assert line.levels == [True] and u.watch_fd() is None
            assert read(u, RBR) == ord("k") and u.watch_fd() == read_end
    finally:
        os.close(write_end)

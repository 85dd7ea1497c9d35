"""A 16550-style UART at COM1: transmit and receive, and its interrupt on IRQ4.

A guest may poll LSR, or enable interrupts in IER and read IIR to learn why IRQ4 came:
received data available (IER bit 0), transmitter holding register empty (bit 1) and receiver
line status (bit 2: a break, which is how the end of input shows). Modem status interrupts
(bit 3) never occur. The interrupt output is not gated by MCR.OUT2 (as in QEMU; on a PC board
it is, so portable guests set OUT2 anyway). There is no FIFO: received bytes come one at a time.
"""

from __future__ import annotations

from collections.abc import Callable

from vmm.device import OUTPUT_CLOSED, Action, CpuView, Device
from vmm.devices.console import ConsoleInput, ConsoleOutput

UART_PORT = 0x3F8
UART_PORTS = 8
UART_IRQ = 4

RBR_THR = 0
IER = 1
IIR_FCR = 2
LCR = 3
MCR = 4
LSR = 5
MSR = 6
SCR = 7

LCR_DLAB = 0x80
LSR_DR = 0x01
LSR_BI = 0x10  # set (without DR) at end of input: a guest can stop polling
LSR_THRE = 0x20
LSR_TEMT = 0x40
MSR_IDLE = 0xB0  # DCD | DSR | CTS: "a terminal is attached and ready"
MSR_DCD = 0x80  # dropped at end of input: the line has hung up
IER_RDA = 0x01  # received data available
IER_THRE = 0x02  # transmitter holding register empty
IER_RLS = 0x04  # receiver line status (a break: the end of input)
IER_BITS = 0x0F
IIR_NONE = 0x01
IIR_RLS = 0x06
IIR_RDA = 0x04
IIR_THRE = 0x02
IIR_FIFO = 0xC0


class Uart(Device):
    """Transmit always ready (THRE|TEMT); receive from ConsoleInput; other registers latch.

    At end of input LSR sets BI (never with DR, so a guest draining "while DR" still stops)
    and MSR drops DCD: a guest that checks either sees the end instead of spinning until its
    timeout. `irq` hears the interrupt output's level whenever it changes."""

    def __init__(self, output: ConsoleOutput, input: ConsoleInput | None = None,
                 irq: Callable[[bool], None] | None = None) -> None:
        self._out = output
        self._in = input
        self._irq = irq
        self._regs = bytearray(8)
        self._dll = 0x01  # 115200 baud
        self._dlm = 0x00
        self.fifo_enabled = False
        self._level = False  # the interrupt output
        self._thre_pending = False  # THR went empty since IIR last reported it
        self._break_pending = False  # the end of input, until LSR is read
        self._break_reported = False

    def io_write(self, offset: int, data: bytes, cpu: CpuView) -> Action | None:
        for i, value in enumerate(data):
            self._write_byte(offset + i, value)
        if self._regs[IER] or self._level:
            self._update()
        return OUTPUT_CLOSED if self._out.closed else None

    def _write_byte(self, offset: int, value: int) -> None:
        dlab = self._regs[LCR] & LCR_DLAB
        if offset == RBR_THR:
            if dlab:
                self._dll = value
            else:
                self._out.write(bytes((value,)))
                self._thre_pending = True  # sent at once: THR is empty again
        elif offset == IER:
            if dlab:
                self._dlm = value
            else:
                if value & ~self._regs[IER] & IER_THRE:
                    self._thre_pending = True  # THR is empty when its interrupt is enabled
                self._regs[IER] = value & IER_BITS
        elif offset == IIR_FCR:
            self.fifo_enabled = bool(value & 1)
        elif offset in (LCR, MCR, SCR):
            self._regs[offset] = value
        # LSR and MSR writes are ignored (read-only on a real 16550); offsets past 7 too.

    def io_read(self, offset: int, size: int) -> bytes:
        data = bytes(self._read_byte(offset + i) for i in range(size))
        if self._regs[IER] or self._level:
            self._update()
        return data

    def _read_byte(self, offset: int) -> int:
        dlab = self._regs[LCR] & LCR_DLAB
        if offset == RBR_THR:
            if dlab:
                return self._dll
            if self._in is not None and self._in.ready():
                b = self._in.read_byte()
                return 0 if b is None else b
            return 0
        if offset == IER:
            return self._dlm if dlab else self._regs[IER]
        if offset == IIR_FCR:
            source = self._source()
            if source == IIR_THRE:
                self._thre_pending = False  # reading IIR that reports it clears it
            return source | (IIR_FIFO if self.fifo_enabled else 0)
        if offset == LSR:
            ready = self._in is not None and self._in.ready()
            if not ready and self._at_end():
                self._break_pending, self._break_reported = False, True  # read: reported
                return LSR_THRE | LSR_TEMT | LSR_BI
            return LSR_THRE | LSR_TEMT | (LSR_DR if ready else 0)
        if offset == MSR:
            ended = self._in is None or self._in.at_end
            return MSR_IDLE & ~MSR_DCD if ended else MSR_IDLE
        if offset < 8:
            return self._regs[offset]
        return 0xFF

    # --- the interrupt --------------------------------------------------------------------
    def _at_end(self) -> bool:
        return self._in is None or self._in.at_end

    def _source(self) -> int:
        """What IIR reports: the highest-priority enabled condition."""
        ier = self._regs[IER]
        data = bool(ier & (IER_RDA | IER_RLS)) and self._in is not None and self._in.ready()
        if not self._break_reported and self._at_end():  # ready() may just have found it
            self._break_pending = True
        if ier & IER_RLS and self._break_pending:
            return IIR_RLS
        if ier & IER_RDA and data:
            return IIR_RDA
        if ier & IER_THRE and self._thre_pending:
            return IIR_THRE
        return IIR_NONE

    def _update(self) -> None:
        level = self._source() != IIR_NONE
        if level != self._level:
            self._level = level
            if self._irq is not None:
                self._irq(level)

    def poll(self) -> None:
        """Look at the input again (it may have become readable, or ended)."""
        self._update()

    def watch_fd(self) -> int | None:
        """The descriptor whose readability would change the interrupt, when one would."""
        if not self._regs[IER] & (IER_RDA | IER_RLS) or self._in is None:
            return None
        return self._in.waitable_fd()

    def may_interrupt(self) -> bool:
        """Whether the interrupt output is up or can still go up by itself."""
        ier = self._regs[IER]
        return (self._level or bool(ier & IER_THRE)
                or bool(ier & IER_RDA) and not self._at_end()
                or bool(ier & IER_RLS) and not self._break_reported)

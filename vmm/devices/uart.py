"""A 16550-style UART at COM1: enough for guests that poll LSR and write THR."""

from __future__ import annotations

from vmm.device import OUTPUT_CLOSED, Action, CpuView, Device
from vmm.devices.console import ConsoleInput, ConsoleOutput

UART_PORT = 0x3F8
UART_PORTS = 8

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
IIR_NONE = 0x01


class Uart(Device):
    """Transmit always ready (THRE|TEMT); receive from ConsoleInput; other registers latch.

    At end of input LSR sets BI (never with DR, so a guest draining "while DR" still stops)
    and MSR drops DCD: a guest that checks either sees the end instead of spinning until its
    timeout."""

    def __init__(self, output: ConsoleOutput, input: ConsoleInput | None = None) -> None:
        self._out = output
        self._in = input
        self._regs = bytearray(8)
        self._dll = 0x01  # 115200 baud
        self._dlm = 0x00
        self.fifo_enabled = False

    def io_write(self, offset: int, data: bytes, cpu: CpuView) -> Action | None:
        for i, value in enumerate(data):
            self._write_byte(offset + i, value)
        return OUTPUT_CLOSED if self._out.closed else None

    def _write_byte(self, offset: int, value: int) -> None:
        dlab = self._regs[LCR] & LCR_DLAB
        if offset == RBR_THR:
            if dlab:
                self._dll = value
            else:
                self._out.write(bytes((value,)))
        elif offset == IER and dlab:
            self._dlm = value
        elif offset == IIR_FCR:
            self.fifo_enabled = bool(value & 1)
        elif offset in (IER, LCR, MCR, SCR):
            self._regs[offset] = value
        # LSR and MSR writes are ignored (read-only on a real 16550); offsets past 7 too.

    def io_read(self, offset: int, size: int) -> bytes:
        return bytes(self._read_byte(offset + i) for i in range(size))

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
            return IIR_NONE | (0xC0 if self.fifo_enabled else 0)
        if offset == LSR:
            ready = self._in is not None and self._in.ready()
            if not ready and (self._in is None or self._in.at_end):
                return LSR_THRE | LSR_TEMT | LSR_BI
            return LSR_THRE | LSR_TEMT | (LSR_DR if ready else 0)
        if offset == MSR:
            ended = self._in is None or self._in.at_end
            return MSR_IDLE & ~MSR_DCD if ended else MSR_IDLE
        if offset < 8:
            return self._regs[offset]
        return 0xFF

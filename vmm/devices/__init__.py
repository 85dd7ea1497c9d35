"""Port-I/O devices of the machine: the UART and the hypercall port share one console stream."""

from vmm.devices.console import ConsoleInput, ConsoleOutput
from vmm.devices.hypercall import HYPERCALL_PORT, HYPERCALLS, HypercallDevice
from vmm.devices.uart import UART_PORT, Uart

__all__ = [
    "HYPERCALLS",
    "HYPERCALL_PORT",
    "UART_PORT",
    "ConsoleInput",
    "ConsoleOutput",
    "HypercallDevice",
    "Uart",
]

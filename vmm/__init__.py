"""vmm: a tiny KVM virtual machine monitor for kasm programs (one vCPU, UART, hypercalls).

Importing this package is cheap (no lief, no /dev/kvm access until a Machine is created).
"""

from vmm.bus import Action, Fault, IoBus, Return, Stop
from vmm.devices.hypercall import HYPERCALL_PORT, HYPERCALLS, Hypercall
from vmm.devices.uart import UART_PORT
from vmm.errors import GuestMemoryError, ImageError, KvmApiError, KvmUnavailable, VmmError
from vmm.machine import DEFAULT_BASE, DEFAULT_MEM_SIZE, Machine, run_elf, run_flat
from vmm.memory import MAX_MEM_SIZE, MIN_MEM_SIZE, GuestMemory, parse_size
from vmm.modes import BootMode, SystemLayout
from vmm.outcome import ExitCode, RunResult, exit_code_for
from vmm.stats import ExitStats

__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_MEM_SIZE",
    "HYPERCALLS",
    "HYPERCALL_PORT",
    "MAX_MEM_SIZE",
    "MIN_MEM_SIZE",
    "UART_PORT",
    "Action",
    "BootMode",
    "CpuView",
    "Device",
    "ExitCode",
    "ExitStats",
    "Fault",
    "GuestMemory",
    "GuestMemoryError",
    "Hypercall",
    "ImageError",
    "IoBus",
    "KvmApiError",
    "KvmUnavailable",
    "Machine",
    "Return",
    "RunResult",
    "Stop",
    "SystemLayout",
    "VmmError",
    "exit_code_for",
    "parse_size",
    "run_elf",
    "run_flat",
]


def __getattr__(name: str) -> object:
    """The device interfaces load on first use: they need `typing`, which a run does not."""
    if name in ("CpuView", "Device"):
        from vmm import device

        return getattr(device, name)
    raise AttributeError(f"module 'vmm' has no attribute {name!r}")

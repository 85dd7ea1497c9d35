"""vmm: a tiny virtual machine monitor for kasm programs (KVM, a UART, hypercalls).

`import vmm` is cheap: the names below load from their modules on first use (PEP 562), so
`kasm build` can read the shared vocabulary (vmm.vocabulary) without loading the VMM, and no
/dev/kvm access happens until a Machine is created.
"""

from __future__ import annotations

from vmm.lazy import lazy_exports

_EXPORTS = {
    "vmm.vocabulary": ("BootMode", "CpuMode", "DEFAULT_BASE", "DEFAULT_MEM_SIZE",
                       "DEFAULT_TIMEOUT", "ExitCode", "RunEnd"),
    "vmm.device": ("Action", "CpuView", "Device", "Fault", "Stop"),
    "vmm.bus": ("IoBus",),
    "vmm.devices.hypercall": ("HYPERCALL_PORT", "HYPERCALLS", "Hypercall"),
    "vmm.devices.uart": ("UART_PORT",),
    "vmm.errors": ("CpuCountError", "EmulatorUnavailable", "GuestMemoryError", "ImageError",
                   "KvmApiError", "KvmUnavailable", "VmmError"),
    "vmm.machine": ("Machine", "run_elf", "run_flat"),
    "vmm.memory": ("MAX_MEM_SIZE", "MIN_MEM_SIZE", "GuestMemory", "parse_size"),
    "vmm.modes": ("SystemLayout",),
    "vmm.outcome": ("RunResult",),
    "vmm.stats": ("ExitStats",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

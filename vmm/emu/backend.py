"""The emulator as a vmm backend: unicorn engines (QEMU's TCG) over the guest's memory.

Each vCPU is its own engine mapping the same host memory as GuestMemory (no copies), so the
loader, the boot state and every device see what the guest sees, and several vCPUs can share
one memory.
"""

from __future__ import annotations

import ctypes

from vmm.backend import VmBackend
from vmm.emu.engine import Engine, library
from vmm.emu.vcpu import EmuVcpu
from vmm.memory import GuestMemory

# Engines running on threads of their own would race: unicorn's TCG makes `lock`-prefixed
# instructions atomic only within one engine, and an engine does not see code another one
# writes. Until vCPUs take turns on one engine lock, the emulator runs one vCPU.
MAX_VCPUS = 1


class EmuBackend(VmBackend):
    """Owns the engines of its vCPUs; `close()` releases them and the view of guest RAM."""

    name = "emu"

    def __init__(self, memory: GuestMemory) -> None:
        self._lib = library()
        self._memory = memory
        # A ctypes view of the mapping gives its host address (and keeps it alive while used).
        self._view: ctypes.Array | None = (ctypes.c_char * memory.size).from_buffer(
            memory.mapping)
        host = ctypes.addressof(self._view)
        self._regions = [(guest, host + offset, size)
                         for guest, offset, size in memory.regions()]
        self._vcpus: list[EmuVcpu] = []

    def create_vcpu(self, index: int) -> EmuVcpu:
        vcpu = EmuVcpu(Engine(self._lib, self._regions), self._memory, index)
        self._vcpus.append(vcpu)
        return vcpu

    @property
    def max_vcpus(self) -> int:
        return MAX_VCPUS

    @property
    def recommended_vcpus(self) -> int:
        return MAX_VCPUS

    def close(self) -> None:
        for vcpu in self._vcpus:
            vcpu.close()
        self._vcpus.clear()
        self._view = None  # releases the buffer export, so GuestMemory can close

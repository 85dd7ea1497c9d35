"""The emulator as a vmm backend: unicorn engines (QEMU's TCG) over the guest's memory.

Each vCPU is its own engine mapping the same host memory as GuestMemory (no copies), so the
loader, the boot state and every device see what the guest sees. Several vCPUs share one
memory and take turns to run (vmm.emu.turns).
"""

from __future__ import annotations

import ctypes

from vmm.backend import VmBackend
from vmm.emu.engine import Engine, library
from vmm.emu.turns import Turns
from vmm.emu.vcpu import EmuVcpu
from vmm.memory import GuestMemory

# The vCPUs take turns (vmm.emu.turns), so they never compete for host CPUs; each is an engine
# with its own translation cache (~1 GiB of address space reserved, ~2.5 MB resident).
MAX_VCPUS = 16


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
        self._turns: Turns | None = None

    def create_vcpu(self, index: int) -> EmuVcpu:
        vcpu = EmuVcpu(Engine(self._lib, self._regions), self._memory, index)
        self._vcpus.append(vcpu)
        if len(self._vcpus) == 2:  # from the second vCPU on, they all take turns
            self._turns = Turns()
            self._vcpus[0].take_turns(self._turns)
        if self._turns is not None:
            vcpu.take_turns(self._turns)
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

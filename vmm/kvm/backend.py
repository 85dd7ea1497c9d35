"""KVM as a vmm backend: /dev/kvm, one VM over the guest's memory, vCPUs with real CPUID."""

from __future__ import annotations

from vmm.backend import VmBackend
from vmm.kvm import _abi as abi
from vmm.kvm.system import Kvm, Vm
from vmm.kvm.vcpu import Vcpu
from vmm.memory import GuestMemory
from vmm.vocabulary import DEFAULT_KVM_PATH


class KvmBackend(VmBackend):
    """Owns the /dev/kvm handle and the VM; `close()` releases both (and every vCPU)."""

    name = "kvm"

    def __init__(self, memory: GuestMemory, path: str = DEFAULT_KVM_PATH) -> None:
        self._kvm: Kvm | None = Kvm(path)
        self._vm: Vm | None = None
        try:
            self._vm = self._kvm.create_vm()
            self._vm.map_memory(memory)
            self._vm.setup_x86(memory.size)
        except BaseException:
            self.close()
            raise

    def create_vcpu(self, index: int) -> Vcpu:
        assert self._kvm is not None and self._vm is not None
        vcpu = self._vm.create_vcpu(index)
        # Always: a guest that switches itself to long mode needs real CPUID leaves.
        vcpu.set_cpuid(self._kvm.supported_cpuid())
        return vcpu

    @property
    def max_vcpus(self) -> int:
        assert self._kvm is not None
        return self._kvm.check_extension(abi.KVM_CAP_MAX_VCPUS) or self.recommended_vcpus

    @property
    def recommended_vcpus(self) -> int:
        assert self._kvm is not None
        return self._kvm.check_extension(abi.KVM_CAP_NR_VCPUS) or 4  # the API's default

    def close(self) -> None:
        if self._vm is not None:
            self._vm.close()
            self._vm = None
        if self._kvm is not None:
            self._kvm.close()
            self._kvm = None

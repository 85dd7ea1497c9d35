"""The KVM backend: thin wrappers over the KVM ioctl API (Kvm, Vm, Vcpu) and KvmBackend.

The only package that uses cffi. Its names load on first use (PEP 562), so that asking
whether KVM is usable (vmm.kvm.probe) costs no cffi.
"""

from __future__ import annotations

from vmm.lazy import lazy_exports

_EXPORTS = {
    "vmm.kvm.backend": ("KvmBackend",),
    "vmm.kvm.system": ("CpuidEntry", "Kvm", "Vm"),
    "vmm.kvm.registers": ("LiveCpuState",),
    "vmm.kvm.vcpu": ("Vcpu",),
    "vmm.kvm.probe": ("kvm_usable",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

"""The KVM backend: thin wrappers over the KVM ioctl API (Kvm, Vm, Vcpu) and KvmBackend.

The only package that uses cffi. Its names load on first use (PEP 562), so that asking
whether KVM is usable (vmm.kvm.probe) costs no cffi.
"""

from __future__ import annotations

_EXPORTS = {
    "vmm.kvm.backend": ("KvmBackend",),
    "vmm.kvm.system": ("CpuidEntry", "Kvm", "Vm"),
    "vmm.kvm.registers": ("LiveCpuState",),
    "vmm.kvm.vcpu": ("Vcpu",),
    "vmm.kvm.probe": ("kvm_usable",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'vmm.kvm' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

"""The KVM backend: thin wrappers over the KVM ioctl API (Kvm, Vm, Vcpu) and KvmBackend.

The only package that uses cffi."""

from vmm.kvm.backend import KvmBackend
from vmm.kvm.system import CpuidEntry, Kvm, Vm
from vmm.kvm.vcpu import LiveCpuState, Vcpu

__all__ = ["CpuidEntry", "Kvm", "KvmBackend", "LiveCpuState", "Vcpu", "Vm"]

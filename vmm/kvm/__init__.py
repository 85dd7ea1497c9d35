"""Thin wrappers over the KVM ioctl API: Kvm (the device), Vm, Vcpu."""

from vmm.kvm.system import CpuidEntry, Kvm, LiveCpuState, Vcpu, Vm

__all__ = ["CpuidEntry", "Kvm", "LiveCpuState", "Vcpu", "Vm"]

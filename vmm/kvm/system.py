"""Kvm and Vm: one object per KVM file descriptor, closed deterministically.

Everything cffi stays in this package (here, vcpu.py, kick.py): callers get plain value
classes (vmm.cpu) and exit values (vmm.exits).
"""

from __future__ import annotations

import errno
import os

from vmm.errors import KvmApiError, KvmUnavailable
from vmm.kvm import _abi as abi
from vmm.kvm._abi import check as _check
from vmm.kvm._abi import ffi
from vmm.kvm.vcpu import Vcpu
from vmm.memory import GuestMemory
from vmm.values import Value
from vmm.vocabulary import DEFAULT_KVM_PATH

_ioctl = abi.libc.ioctl
_NO_ARG = ffi.cast("unsigned long", 0)

# Intel (VMX) needs 3 pages for a real-mode TSS and one for an identity map outside RAM;
# placed where QEMU places them, just below the BIOS area at 4 GiB. Harmless elsewhere.
TSS_ADDRESS = 0xFFFB_D000
IDENTITY_MAP_ADDRESS = 0xFFFB_C000

_CPUID_CACHE: dict[str, tuple[CpuidEntry, ...]] = {}


class CpuidEntry(Value):
    """One leaf of struct kvm_cpuid_entry2."""

    __slots__ = ("function", "index", "flags", "eax", "ebx", "ecx", "edx")

    def __init__(
        self, function: int, index: int, flags: int, eax: int, ebx: int, ecx: int, edx: int
    ) -> None:
        self.function, self.index, self.flags = function, index, flags
        self.eax, self.ebx, self.ecx, self.edx = eax, ebx, ecx, edx


class Kvm:
    """The /dev/kvm handle: API checks, capabilities, supported CPUID, VM creation."""

    def __init__(self, path: str = DEFAULT_KVM_PATH) -> None:
        self.path = path
        self._fd = -1
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise KvmUnavailable(
                f"kvm: {path} not found: this machine has no KVM "
                "(enable virtualization in the firmware and load kvm_intel or kvm_amd)"
            ) from None
        except PermissionError:
            raise KvmUnavailable(
                f"kvm: permission denied opening {path}: add yourself to the kvm group "
                "(sudo usermod -aG kvm $USER, then log in again)"
            ) from None
        except OSError as e:
            raise KvmUnavailable(f"kvm: cannot open {path}: {e.strerror}") from None
        try:
            version = _ioctl(self._fd, abi.KVM_GET_API_VERSION, _NO_ARG)
            if version < 0:
                err = ffi.errno
                raise KvmUnavailable(
                    f"kvm: {path} is not a KVM device (KVM_GET_API_VERSION: {os.strerror(err)})"
                )
            if version != abi.KVM_API_VERSION:
                raise KvmApiError(
                    f"kvm: {path} speaks API version {version}, this VMM needs "
                    f"{abi.KVM_API_VERSION}"
                )
            if not self.check_extension(abi.KVM_CAP_USER_MEMORY):
                raise KvmApiError("kvm: missing capability KVM_CAP_USER_MEMORY")
            self.vcpu_mmap_size = _check(
                _ioctl(self._fd, abi.KVM_GET_VCPU_MMAP_SIZE, _NO_ARG), "KVM_GET_VCPU_MMAP_SIZE"
            )
            self.sync_regs = self.check_extension(abi.KVM_CAP_SYNC_REGS)
            self.has_immediate_exit = bool(self.check_extension(abi.KVM_CAP_IMMEDIATE_EXIT))
            self.has_internal_error_data = bool(
                self.check_extension(abi.KVM_CAP_INTERNAL_ERROR_DATA)
            )
            self.has_tss_addr = bool(self.check_extension(abi.KVM_CAP_SET_TSS_ADDR))
            self.has_identity_map_addr = bool(
                self.check_extension(abi.KVM_CAP_SET_IDENTITY_MAP_ADDR)
            )
        except BaseException:
            self.close()
            raise
        self._cpuid: tuple[CpuidEntry, ...] | None = None

    def __enter__(self) -> Kvm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def fileno(self) -> int:
        return self._fd

    def check_extension(self, cap: int) -> int:
        """KVM_CHECK_EXTENSION: 0 when absent, otherwise a capability-specific value."""
        rc = _ioctl(self._fd, abi.KVM_CHECK_EXTENSION, ffi.cast("unsigned long", cap))
        return max(rc, 0)

    def supported_cpuid(self) -> tuple[CpuidEntry, ...]:
        """KVM_GET_SUPPORTED_CPUID, cached per device for the process (it describes the host,
        which does not change): a guest switching to long mode needs these leaves."""
        if self._cpuid is None:
            self._cpuid = _CPUID_CACHE.get(self.path)
        if self._cpuid is None:
            nent = 128
            while True:
                buf = ffi.new("char[]", 8 + 40 * nent)
                c = ffi.cast("struct kvm_cpuid2 *", buf)
                c.nent = nent
                rc = _ioctl(self._fd, abi.KVM_GET_SUPPORTED_CPUID, c)
                if rc < 0 and ffi.errno == errno.E2BIG and nent < 4096:
                    nent *= 2
                    continue
                _check(rc, "KVM_GET_SUPPORTED_CPUID")
                break
            self._cpuid = tuple(
                CpuidEntry(e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx)
                for e in (c.entries[i] for i in range(c.nent))
            )
            _CPUID_CACHE[self.path] = self._cpuid
        return self._cpuid

    def create_vm(self) -> Vm:
        fd = _check(_ioctl(self._fd, abi.KVM_CREATE_VM, _NO_ARG), "KVM_CREATE_VM")
        return Vm(self, fd)


class Vm:
    """A VM file descriptor: memory slots, x86 setup addresses, vCPU creation."""

    def __init__(self, kvm: Kvm, fd: int) -> None:
        self.kvm = kvm
        self._fd = fd
        self._vcpus: list[Vcpu] = []
        self.memory: GuestMemory | None = None  # what map_memory gave the guest

    def __enter__(self) -> Vm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for vcpu in self._vcpus:
            vcpu.close()
        self._vcpus.clear()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def set_user_memory_region(
        self, slot: int, guest_address: int, size: int, host_address: int, flags: int = 0
    ) -> None:
        region = ffi.new("struct kvm_userspace_memory_region *")
        region.slot = slot
        region.flags = flags
        region.guest_phys_addr = guest_address
        region.memory_size = size
        region.userspace_addr = host_address
        _check(
            _ioctl(self._fd, abi.KVM_SET_USER_MEMORY_REGION, region),
            f"KVM_SET_USER_MEMORY_REGION slot {slot} at {guest_address:#x} size {size:#x}",
        )

    def map_memory(self, memory: GuestMemory) -> None:
        """Give the guest `memory` as RAM from guest-physical 0, in as many slots as it has."""
        self.memory = memory
        buf = ffi.from_buffer(memory.mapping)
        try:
            host = int(ffi.cast("uintptr_t", buf))
        finally:
            ffi.release(buf)  # keep only the address, so the mapping can still be closed
        for slot, (guest_address, offset, size) in enumerate(memory.regions()):
            self.set_user_memory_region(slot, guest_address, size, host + offset)

    def set_tss_address(self, address: int) -> None:
        _check(
            _ioctl(self._fd, abi.KVM_SET_TSS_ADDR, ffi.cast("unsigned long", address)),
            "KVM_SET_TSS_ADDR",
        )

    def set_identity_map_address(self, address: int) -> None:
        _check(
            _ioctl(self._fd, abi.KVM_SET_IDENTITY_MAP_ADDR, ffi.new("uint64_t *", address)),
            "KVM_SET_IDENTITY_MAP_ADDR",
        )

    def setup_x86(self, ram_top: int) -> None:
        """Give Intel its TSS / identity-map pages when they lie outside RAM (else not needed:
        such hosts use unrestricted guests)."""
        if self.kvm.has_identity_map_addr and IDENTITY_MAP_ADDRESS >= ram_top:
            self.set_identity_map_address(IDENTITY_MAP_ADDRESS)
        if self.kvm.has_tss_addr and IDENTITY_MAP_ADDRESS >= ram_top:
            self.set_tss_address(TSS_ADDRESS)

    def create_vcpu(self, index: int = 0) -> Vcpu:
        fd = _check(
            _ioctl(self._fd, abi.KVM_CREATE_VCPU, ffi.cast("unsigned long", index)),
            "KVM_CREATE_VCPU",
        )
        vcpu = Vcpu(self, fd, index)
        self._vcpus.append(vcpu)
        return vcpu

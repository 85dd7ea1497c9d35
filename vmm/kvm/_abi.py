"""The slice of <linux/kvm.h> (x86-64) this VMM uses (plus two libc calls), for cffi ABI mode.

Layouts were checked against the kernel headers with a C compiler once; `check_layout()` re-checks
the sizes and offsets that matter at import so a wrong cdef fails loudly instead of corrupting a
guest. Offsets verified: kvm_run's exit union at 32, kvm_valid_regs at 288, kvm_dirty_regs at 296,
the sync-regs area `s` at 304 (it is 2048 bytes long, it does not start at 2048); sizeof(kvm_run)
is 2352.
"""

from __future__ import annotations

import os

from vmm.errors import KvmApiError
from vmm.kvm import probe
from vmm.kvm._ffi import ffi

# The declarations below are the source of truth; vmm/kvm/_ffi.py is generated from them
# (`python vmm/kvm/_build_ffi.py`) so importing vmm never runs cffi's C parser (~30 ms).
CDEF =     """
    struct kvm_regs {
        uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
        uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
        uint64_t rip, rflags;
    };
    struct kvm_segment {
        uint64_t base;
        uint32_t limit;
        uint16_t selector;
        uint8_t type, present, dpl, db, s, l, g, avl;
        uint8_t unusable;
        uint8_t padding;
    };
    struct kvm_dtable {
        uint64_t base;
        uint16_t limit;
        uint16_t padding[3];
    };
    struct kvm_sregs {
        struct kvm_segment cs, ds, es, fs, gs, ss, tr, ldt;
        struct kvm_dtable gdt, idt;
        uint64_t cr0, cr2, cr3, cr4, cr8;
        uint64_t efer;
        uint64_t apic_base;
        uint64_t interrupt_bitmap[4];
    };
    struct kvm_vcpu_events {
        struct { uint8_t injected, nr, has_error_code, pending; uint32_t error_code; } exception;
        struct { uint8_t injected, nr, soft, shadow; } interrupt;
        struct { uint8_t injected, pending, masked, pad; } nmi;
        uint32_t sipi_vector;
        uint32_t flags;
        struct { uint8_t smm, pending, smm_inside_nmi, latched_init; } smi;
        struct { uint8_t pending; } triple_fault;
        uint8_t reserved[26];
        uint8_t exception_has_payload;
        uint64_t exception_payload;
    };
    struct kvm_sync_regs {
        struct kvm_regs regs;
        struct kvm_sregs sregs;
        struct kvm_vcpu_events events;
    };
    struct kvm_io {
        uint8_t direction;
        uint8_t size;
        uint16_t port;
        uint32_t count;
        uint64_t data_offset;
    };
    struct kvm_mmio {
        uint64_t phys_addr;
        uint8_t data[8];
        uint32_t len;
        uint8_t is_write;
    };
    struct kvm_fail_entry {
        uint64_t hardware_entry_failure_reason;
        uint32_t cpu;
    };
    struct kvm_internal {
        uint32_t suberror;
        uint32_t ndata;
        uint64_t data[16];
    };
    struct kvm_debug_exit_arch {
        uint32_t exception;
        uint32_t pad;
        uint64_t pc;
        uint64_t dr6;
        uint64_t dr7;
    };
    struct kvm_guest_debug {
        uint32_t control;
        uint32_t pad;
        uint64_t debugreg[8];
    };
    struct kvm_run {
        uint8_t request_interrupt_window;
        uint8_t immediate_exit;
        uint8_t padding1[6];
        uint32_t exit_reason;
        uint8_t ready_for_interrupt_injection;
        uint8_t if_flag;
        uint16_t flags;
        uint64_t cr8;
        uint64_t apic_base;
        union {
            struct { uint64_t hardware_exit_reason; } hw;
            struct kvm_fail_entry fail_entry;
            struct kvm_io io;
            struct kvm_mmio mmio;
            struct kvm_internal internal;
            struct { struct kvm_debug_exit_arch arch; } debug;
            char padding[256];
        };
        uint64_t kvm_valid_regs;
        uint64_t kvm_dirty_regs;
        union {
            struct kvm_sync_regs regs;
            char padding[2048];
        } s;
    };
    struct kvm_userspace_memory_region {
        uint32_t slot;
        uint32_t flags;
        uint64_t guest_phys_addr;
        uint64_t memory_size;
        uint64_t userspace_addr;
    };
    struct kvm_cpuid_entry2 {
        uint32_t function, index, flags, eax, ebx, ecx, edx;
        uint32_t padding[3];
    };
    struct kvm_cpuid2 {
        uint32_t nent;
        uint32_t padding;
        struct kvm_cpuid_entry2 entries[];
    };

    int ioctl(int fd, unsigned long request, ...);

    struct sigaction {             /* glibc x86-64 layout */
        void *sa_handler;
        unsigned long sa_mask[16];
        int sa_flags;
        void *sa_restorer;
    };
    int sigaction(int signum, const struct sigaction *act, struct sigaction *oldact);
    int getppid(void);
    """

libc = ffi.dlopen(None)
# The same libc ioctl called through a fixed-argument pointer type, for the hot KVM_RUN call:
# this spares cffi the variadic call setup (~0.2 us per exit). On x86-64 calling glibc's
# variadic ioctl this way is ABI-compatible (AL only tells the callee whether to spill vector
# registers).
ioctl_fixed = ffi.cast(
    "int(*)(int, unsigned long, unsigned long)", ffi.addressof(libc, "ioctl")
)



def check(rc: int, what: str) -> int:
    """An ioctl's result, or KvmApiError naming the call and errno."""
    if rc < 0:
        err = ffi.errno
        raise KvmApiError(f"kvm: {what} failed: {os.strerror(err)} (errno {err})")
    return rc


# ioctl number encoding from <asm-generic/ioctl.h>.
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2
KVMIO = 0xAE


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (KVMIO << 8) | nr


def _io(nr: int) -> int:
    return _ioc(_IOC_NONE, nr, 0)


def _ior(nr: int, ctype: str) -> int:
    return _ioc(_IOC_READ, nr, ffi.sizeof(ctype))


def _iow(nr: int, ctype: str) -> int:
    return _ioc(_IOC_WRITE, nr, ffi.sizeof(ctype))


def _iowr(nr: int, ctype: str) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, nr, ffi.sizeof(ctype))


KVM_API_VERSION = 12

KVM_GET_API_VERSION = _io(0x00)
assert KVM_GET_API_VERSION == probe.KVM_GET_API_VERSION
KVM_CREATE_VM = _io(0x01)
KVM_CHECK_EXTENSION = _io(0x03)
KVM_GET_VCPU_MMAP_SIZE = _io(0x04)
KVM_GET_SUPPORTED_CPUID = _iowr(0x05, "struct kvm_cpuid2")
KVM_CREATE_VCPU = _io(0x41)
KVM_SET_USER_MEMORY_REGION = _iow(0x46, "struct kvm_userspace_memory_region")
KVM_SET_TSS_ADDR = _io(0x47)
KVM_SET_IDENTITY_MAP_ADDR = _iow(0x48, "uint64_t")
KVM_RUN = _io(0x80)
KVM_GET_REGS = _ior(0x81, "struct kvm_regs")
KVM_SET_REGS = _iow(0x82, "struct kvm_regs")
KVM_GET_SREGS = _ior(0x83, "struct kvm_sregs")
KVM_SET_SREGS = _iow(0x84, "struct kvm_sregs")
KVM_SET_CPUID2 = _iow(0x90, "struct kvm_cpuid2")
KVM_SET_GUEST_DEBUG = _iow(0x9B, "struct kvm_guest_debug")
KVM_INTERRUPT = _iow(0x86, "uint32_t")  # struct kvm_interrupt { __u32 irq; }
KVM_GET_VCPU_EVENTS = _ior(0x9F, "struct kvm_vcpu_events")
KVM_SET_VCPU_EVENTS = _iow(0xA0, "struct kvm_vcpu_events")

# Capabilities (KVM_CHECK_EXTENSION).
KVM_CAP_USER_MEMORY = 3
KVM_CAP_SET_TSS_ADDR = 4
KVM_CAP_NR_VCPUS = 9
KVM_CAP_SET_IDENTITY_MAP_ADDR = 37
KVM_CAP_INTERNAL_ERROR_DATA = 40
KVM_CAP_MAX_VCPUS = 66
KVM_CAP_SYNC_REGS = 74
KVM_CAP_IMMEDIATE_EXIT = 136
KVM_CAP_SET_GUEST_DEBUG = 23

# KVM_SET_GUEST_DEBUG's control bits
KVM_GUESTDBG_ENABLE = 0x1
KVM_GUESTDBG_SINGLESTEP = 0x2
KVM_GUESTDBG_USE_SW_BP = 0x1_0000
KVM_GUESTDBG_USE_HW_BP = 0x2_0000

KVM_SYNC_X86_REGS = 1 << 0
KVM_SYNC_X86_SREGS = 1 << 1

KVM_EXIT_IO_IN = 0
KVM_EXIT_IO_OUT = 1

# Exit reasons and their lower-case KVM names (KVM_EXIT_<NAME>).
EXIT_NAMES: dict[int, str] = {
    0: "unknown",
    1: "exception",
    2: "io",
    3: "hypercall",
    4: "debug",
    5: "hlt",
    6: "mmio",
    7: "irq_window_open",
    8: "shutdown",
    9: "fail_entry",
    10: "intr",
    11: "set_tpr",
    12: "tpr_access",
    16: "nmi",
    17: "internal_error",
    24: "system_event",
    26: "ioapic_eoi",
    29: "x86_rdmsr",
    30: "x86_wrmsr",
    31: "dirty_ring_full",
    33: "x86_bus_lock",
    37: "notify",
    39: "memory_fault",
}
KVM_EXIT_IO = 2
KVM_EXIT_DEBUG = 4
KVM_EXIT_HLT = 5
KVM_EXIT_IRQ_WINDOW_OPEN = 7
KVM_EXIT_MMIO = 6
KVM_EXIT_SHUTDOWN = 8
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTR = 10
KVM_EXIT_INTERNAL_ERROR = 17

# Offsets into the kvm_run page, checked against the cdef by check_layout().
RUN_EXIT_REASON = 8
RUN_UNION = 32
RUN_VALID_REGS = 288
RUN_DIRTY_REGS = 296
RUN_SYNC_REGS = 304


def check_layout() -> None:
    """Fail at import if the cdef drifted from the kernel ABI."""
    expected = {
        "struct kvm_regs": 144,
        "struct kvm_segment": 24,
        "struct kvm_dtable": 16,
        "struct kvm_sregs": 312,
        "struct kvm_vcpu_events": 64,
        "struct kvm_sync_regs": 520,
        "struct kvm_run": 2352,
        "struct kvm_userspace_memory_region": 32,
        "struct kvm_cpuid_entry2": 40,
        "struct kvm_cpuid2": 8,
        "struct kvm_guest_debug": 72,
        "struct kvm_debug_exit_arch": 32,
    }
    for ctype, size in expected.items():
        if ffi.sizeof(ctype) != size:
            raise AssertionError(f"{ctype}: size {ffi.sizeof(ctype)} != kernel ABI {size}")
    offsets = {
        "exit_reason": RUN_EXIT_REASON,
        "io": RUN_UNION,
        "kvm_valid_regs": RUN_VALID_REGS,
        "kvm_dirty_regs": RUN_DIRTY_REGS,
        "s": RUN_SYNC_REGS,
    }
    for field, off in offsets.items():
        if ffi.offsetof("struct kvm_run", field) != off:
            raise AssertionError(f"kvm_run.{field} at {ffi.offsetof('struct kvm_run', field)}")
    if ffi.offsetof("struct kvm_run", "internal") != 32 or ffi.offsetof(
        "struct kvm_internal", "data"
    ) != 8:
        raise AssertionError("kvm_run.internal layout")


check_layout()
assert KVM_RUN == 0xAE80 and KVM_GET_REGS == 0x8090AE81 and KVM_SET_SREGS == 0x4138AE84
assert KVM_SET_CPUID2 == 0x4008AE90 and KVM_GET_SUPPORTED_CPUID == 0xC008AE05
assert KVM_SET_GUEST_DEBUG == 0x4048AE9B
assert KVM_SET_USER_MEMORY_REGION == 0x4020AE46 and KVM_SET_IDENTITY_MAP_ADDR == 0x4008AE48
assert KVM_INTERRUPT == 0x4004AE86 and KVM_GET_VCPU_EVENTS == 0x8040AE9F

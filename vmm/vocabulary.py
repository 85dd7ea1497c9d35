"""The words kasm and vmm share: boot modes, how a run ends, exit codes, defaults.

Defined once, here, in a module that imports nothing but `enum`: `kasm --help` and
`kasm build` read these without loading any of the VMM's machinery.
"""

from __future__ import annotations

import enum

BACKENDS = ("auto", "kvm", "emu")  # what can run a guest; auto: KVM where it works, else emu
DEFAULT_BACKEND = "auto"
DEFAULT_KVM_PATH = "/dev/kvm"
DEFAULT_BASE = 0x1000  # where an image is loaded and entered unless told otherwise
DEFAULT_MEM_SIZE = 2 << 20
DEFAULT_TIMEOUT = 10.0  # seconds, for `kasm run`; 0 or None means no timeout
MAX_TIMEOUT = 1e6  # seconds; longer than any run, short enough for every timer API

# e_flags kasm writes into an ELF32 whose code is 16-bit (ELF has no 16-bit x86 machine), so
# that booting the ELF starts it in real mode.
ELF_FLAG_REAL_MODE = 0x4B160000
ELF_MAGIC = b"\x7fELF"


class BootMode(enum.Enum):
    """The CPU mode a program is written for and the VMM boots it in."""

    REAL = "real"  # .code16
    PROTECTED = "protected"  # .code32
    PAGED32 = "paged32"  # .code32 with the VMM's identity-mapped paging
    LONG = "long"  # .code64

    @property
    def bits(self) -> int:
        """The code width of the mode (16, 32 or 64)."""
        return 16 if self is BootMode.REAL else 64 if self is BootMode.LONG else 32

    @classmethod
    def for_bits(cls, bits: int) -> BootMode:
        """The mode a `.code16/.code32/.code64` program boots in."""
        return {16: cls.REAL, 32: cls.PROTECTED, 64: cls.LONG}[bits]


class CpuMode(enum.Enum):
    """The mode the CPU is in at a given moment (a guest may switch), decided by CR0.PE,
    EFER.LMA and CS.L/CS.D. Its `width` is the hypercall argument width."""

    REAL = ("real", 16)
    PROTECTED16 = ("protected16", 16)
    PROTECTED = ("protected", 32)
    COMPAT = ("compat", 32)
    LONG = ("long", 64)

    def __new__(cls, label: str, width: int) -> CpuMode:
        member = object.__new__(cls)
        member._value_ = label
        member.width = width  # type: ignore[attr-defined]
        return member

    def __str__(self) -> str:
        return self.value


class ExitCode(enum.IntEnum):
    """Process exit codes. A guest's HC_EXIT status N becomes N & 0xff (so 0..255 overlap
    these on purpose: the guest owns its status); everything else is fixed here."""

    OK = 0  # the guest executed HLT (or HC_EXIT 0)
    BUILD_ERROR = 1  # kasm could not read, assemble or link the program
    USAGE_ERROR = 2  # bad command line
    VMM_ERROR = 3  # KVM unavailable, the VM could not be set up, or the output is lost
    GUEST_FAULT = 120  # the guest did something that ends it (see RunEnd.is_fault)
    TIMEOUT = 124  # the guest ran past its timeout (like timeout(1))
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    KILLED = 137  # gdb ended the run: kill, quit, a lost connection (128 + SIGKILL)
    OUTPUT_CLOSED = 141  # stdout's reader went away (128 + SIGPIPE): the guest was stopped


class RunEnd(enum.Enum):
    """How a run ended. Each end fixes the process exit code and whether it is a guest fault,
    so a result's `end` and `exit_code` can never disagree. The value is the name used in the
    statistics and in `--stats-json`."""

    HLT = ("hlt", ExitCode.OK)
    HC_EXIT = ("hc_exit", None)  # the guest's status & 0xff
    TIMEOUT = ("timeout", ExitCode.TIMEOUT)
    INTERRUPTED = ("interrupted", ExitCode.INTERRUPTED)
    OUTPUT_CLOSED = ("output_closed", ExitCode.OUTPUT_CLOSED)
    KILLED = ("killed", ExitCode.KILLED)  # by the debugger (vmm.gdb)
    OUTPUT_FAILED = ("output_failed", ExitCode.VMM_ERROR)  # the guest's output could not
    # be written (a full disk): the run cannot count as clean
    # guest faults
    EXCEPTION = ("exception", ExitCode.GUEST_FAULT)  # through the default IDT (vmm.modes)
    SHUTDOWN = ("shutdown", ExitCode.GUEST_FAULT)
    INTERNAL_ERROR = ("internal_error", ExitCode.GUEST_FAULT)
    FAIL_ENTRY = ("fail_entry", ExitCode.GUEST_FAULT)
    MMIO = ("mmio", ExitCode.GUEST_FAULT)
    BAD_HYPERCALL = ("bad_hypercall", ExitCode.GUEST_FAULT)
    BAD_POINTER = ("bad_pointer", ExitCode.GUEST_FAULT)
    UNOWNED_PORT = ("unowned_port", ExitCode.GUEST_FAULT)
    UNHANDLED_EXIT = ("unhandled_exit", ExitCode.GUEST_FAULT)

    def __new__(cls, label: str, code: ExitCode | None) -> RunEnd:
        member = object.__new__(cls)
        member._value_ = label
        member._code = code  # type: ignore[attr-defined]
        return member

    @property
    def is_fault(self) -> bool:
        return self._code is ExitCode.GUEST_FAULT  # type: ignore[attr-defined]

    def exit_code(self, status: int = 0) -> int:
        """The process exit code; `status` is the guest's, used only by HC_EXIT."""
        code = self._code  # type: ignore[attr-defined]
        return status & 0xFF if code is None else int(code)

    def __str__(self) -> str:
        return self.value

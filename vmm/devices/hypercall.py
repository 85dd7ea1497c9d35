"""The hypercall port: a guest asks the VMM for a service with `out dx, al` (DX = 0x500).

The ABI is part of the project's contract and numbers never change; HYPERCALLS is the table
the code dispatches from and the README documents (kasm's include/hypercall.h defines the same
numbers for guests, and a test keeps the two in step). AL (the byte written) selects the
function; the argument is BX / EBX / RBX according to the mode the vCPU is in at the call
(16-bit real or protected16: BX, 32-bit protected or compat: EBX, long: RBX).
"""

from __future__ import annotations

from collections.abc import Callable

from vmm.device import OUTPUT_CLOSED, Action, CpuView, Device, Fault, Stop
from vmm.devices.console import ConsoleInput, ConsoleOutput
from vmm.errors import GuestMemoryError
from vmm.values import Value
from vmm.vocabulary import RunEnd

HYPERCALL_PORT = 0x500
STRING_LIMIT = 1 << 16  # PUTS gives up (a guest fault) without a NUL in this many bytes
OUTB_DX = 0xEE  # outb %al, (%dx): the one instruction that makes a hypercall
# what else can write to a port above 0xff (the opcode before RIP), by opcode and size
OTHER_OUTS = {(0xEF, 2): "outw %ax, (%dx)", (0xEF, 4): "outl %eax, (%dx)", (0x6E, 1): "outsb",
              (0x6F, 2): "outsw", (0x6F, 4): "outsl"}
VERIFIED_MAX = 4096


class Hypercall(Value):
    """One row of the ABI table."""

    __slots__ = ("number", "name", "arguments", "result", "description")

    def __init__(
        self, number: int, name: str, arguments: dict[str, str], result: str, description: str
    ) -> None:
        self.number = number
        self.name = name
        self.arguments = arguments  # register(s) by width: "16", "32", "64"
        self.result = result
        self.description = description


HYPERCALLS: tuple[Hypercall, ...] = (
    Hypercall(
        0,
        "EXIT",
        {"16": "BX", "32": "EBX", "64": "RBX"},
        "does not return",
        "Stop the guest with status = the argument (`kasm run` exits with status & 0xff).",
    ),
    Hypercall(
        1,
        "PUTCHAR",
        {"16": "BL", "32": "BL", "64": "BL"},
        "none",
        "Print the byte in BL.",
    ),
    Hypercall(
        2,
        "PUTNUM",
        {"16": "BX", "32": "EBX", "64": "RBX"},
        "none",
        "Print the argument as an unsigned decimal number at the mode's width.",
    ),
    Hypercall(3, "NEWLINE", {}, "none", 'Print "\\n".'),
    Hypercall(
        4,
        "GETCHAR",
        {},
        "AX / EAX / RAX",
        "Read one input byte: 0..255 zero-extended, or all ones (-1) at end of input.",
    ),
    Hypercall(
        5,
        "WRITE",
        {"16": "DS:BX, CX", "32": "EBX, ECX", "64": "RBX, RCX"},
        "none",
        "Print CX/ECX/RCX bytes from the pointer; a range outside RAM is a guest fault.",
    ),
    Hypercall(
        6,
        "PUTS",
        {"16": "DS:BX", "32": "EBX", "64": "RBX"},
        "none",
        "Print the NUL-terminated string at the pointer (at most 64 KiB before the NUL).",
    ),
    Hypercall(
        7,
        "CPU_ID",
        {},
        "AX / EAX / RAX = id; BX / EBX / RBX = number of vCPUs",
        "The calling vCPU's id (0 to N-1) and the number of vCPUs N of the run.",
    ),
)

HC_EXIT, HC_PUTCHAR, HC_PUTNUM, HC_NEWLINE, HC_GETCHAR, HC_WRITE, HC_PUTS, HC_CPU_ID = range(8)
_NEWLINE = b"\n"


class HypercallDevice(Device):
    """Dispatches AL through HYPERCALLS to one `_hc_<name>` method per function."""

    def __init__(self, output: ConsoleOutput, input: ConsoleInput | None = None,
                 cpus: int = 1) -> None:
        self._out = output
        self._in = input
        self._cpus = cpus
        self._table: dict[int, Callable[[CpuView], Action | None]] = {
            h.number: getattr(self, "_hc_" + h.name.lower()) for h in HYPERCALLS
        }
        self.calls = 0
        self._verified: set[int] = set()  # RIPs (after the OUT) seen to follow an outb

    def io_write(self, offset: int, data: bytes, cpu: CpuView) -> Action | None:
        self.calls += 1
        if len(data) != 1 or cpu.rip not in self._verified:
            refused = self._not_a_hypercall(data, cpu)
            if refused is not None:
                return refused
        function = data[0]
        handler = self._table.get(function)
        if handler is None:
            return Fault(
                RunEnd.BAD_HYPERCALL,
                f"unknown hypercall {function} (AL={function:#04x}) on port "
                f"{HYPERCALL_PORT + offset:#x}",
            )
        action = handler(cpu)
        return OUTPUT_CLOSED if action is None and self._out.closed else action

    def io_read(self, offset: int, size: int) -> bytes:
        return bytes(size)

    def _not_a_hypercall(self, data: bytes, cpu: CpuView) -> Fault | None:
        """A fault unless the write came from `outb %al, (%dx)` (the byte before RIP), so
        that a guest running into data whose bytes happen to be an OUTS to this port does
        not pass for a hypercall. A RIP once seen right is remembered (a guest does not
        rewrite its own hypercalls), which keeps the check off the hot path."""
        try:
            opcode = cpu.read(cpu.linear(cpu.rip - 1, "cs"), 1)[0]
        except GuestMemoryError:
            opcode = -1
        if opcode == OUTB_DX and len(data) == 1:
            if len(self._verified) >= VERIFIED_MAX:
                self._verified.clear()
            self._verified.add(cpu.rip)
            return None
        what = OTHER_OUTS.get((opcode, len(data)))
        if what is None and len(data) == 1:
            return None  # no OUT before RIP: a `rep outsb` still repeating, or not x86 code
        what = what or f"a {len(data)}-byte write"
        return Fault(RunEnd.BAD_HYPERCALL,
                     f"{what} to the hypercall port {HYPERCALL_PORT:#x}: a hypercall is one "
                     "`outb %al, (%dx)`")

    @staticmethod
    def _arg(cpu: CpuView, value: int) -> int:
        return value & ((1 << cpu.width) - 1)

    def _hc_exit(self, cpu: CpuView) -> Action:
        return Stop(RunEnd.HC_EXIT, self._arg(cpu, cpu.rbx))

    def _hc_putchar(self, cpu: CpuView) -> None:
        self._out.write(bytes((cpu.rbx & 0xFF,)))

    def _hc_putnum(self, cpu: CpuView) -> None:
        self._out.write(str(self._arg(cpu, cpu.rbx)).encode())

    def _hc_newline(self, cpu: CpuView) -> None:
        self._out.write(_NEWLINE)

    def _hc_getchar(self, cpu: CpuView) -> None:
        self._out.flush()  # a prompt must be visible before we block on input
        b = self._in.read_byte() if self._in is not None else None
        self._result(cpu, -1 if b is None else b)

    def _hc_cpu_id(self, cpu: CpuView) -> None:
        self._result(cpu, cpu.cpu_index)
        self._result(cpu, self._cpus, "rbx")

    @staticmethod
    def _result(cpu: CpuView, value: int, register: str = "rax") -> None:
        """A result in AX/EAX/RAX (or another register, at the mode's width at the call); the
        bits above that width stay."""
        mask = (1 << cpu.width) - 1
        cpu.set_reg(register, (getattr(cpu, register) & ~mask) | (value & mask))

    def _pointer(self, cpu: CpuView) -> int:
        return cpu.linear(self._arg(cpu, cpu.rbx))

    def _hc_write(self, cpu: CpuView) -> None:
        length = self._arg(cpu, cpu.rcx)
        for chunk in cpu.read_chunks(self._pointer(cpu), length):
            self._out.write(chunk)

    def _hc_puts(self, cpu: CpuView) -> None:
        self._out.write(cpu.read_cstring(self._pointer(cpu), STRING_LIMIT))

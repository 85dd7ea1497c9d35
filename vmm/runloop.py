"""The run loop: KVM_RUN, count the exit, hand port I/O to the bus, act on what comes back.

Device logic lives behind the bus; this module only decides when a run ends and how to report
it. Faults end with a message naming what happened and where (CS:IP or RIP), plus a register
dump.
"""

from __future__ import annotations

from collections.abc import Iterator
from time import perf_counter

from vmm import exits as ex
from vmm.bus import Fault, IoBus, Return, Stop
from vmm.cpu import CR0_PG, format_register_dump
from vmm.errors import GuestMemoryError
from vmm.kick import Stopper
from vmm.kvm import LiveCpuState, Vcpu
from vmm.kvm._abi import INTERNAL_ERROR_NAMES, KVM_INTERNAL_ERROR_EMULATION
from vmm.memory import PAGE_SIZE, GuestMemory
from vmm.outcome import RunResult, exit_code_for
from vmm.paging import translate
from vmm.stats import ExitStats

MAX_INSTRUCTION = 15


class GuestCpu:
    """The CpuView devices get: registers as ints, the mode's width, guest-pointer reads."""

    __slots__ = ("_live", "_memory")

    def __init__(self, live: LiveCpuState, memory: GuestMemory) -> None:
        self._live = live
        self._memory = memory

    def __getattr__(self, name: str) -> int:
        # Registers by name (rax, rbx, ..., rip, rflags); only reached for non-slot attributes.
        try:
            return self._live.reg(name)
        except AttributeError:
            raise AttributeError(name) from None

    @property
    def rbx(self) -> int:  # the hypercall argument: the hot one
        return self._live.reg("rbx")

    @property
    def mode(self) -> str:
        return self._live.mode

    @property
    def width(self) -> int:
        return self._live.width

    def set_result(self, value: int) -> None:
        """Write a hypercall result into AX/EAX/RAX, keeping the bits above the mode's width."""
        mask = (1 << self.width) - 1
        rax = self._live.reg("rax")
        self._live.set_reg("rax", (rax & ~mask) | (value & mask))

    def linear(self, offset: int, segment: str = "ds") -> int:
        mode = self._live.mode
        if mode == "long":
            return offset
        base = self._live.segment_base(segment)
        return (base + offset) & 0xFFFF_FFFF

    def physical(self, linear: int) -> int:
        cr0, cr3, cr4, efer = self._live.control_registers()
        return translate(self._memory, cr0, cr3, cr4, efer, linear)

    def _ranges(self, address: int, length: int) -> list[tuple[int, int]]:
        """Physical (start, length) pieces of a linear range, all checked before any is read."""
        size = self._memory.size
        if length > size:
            raise GuestMemoryError(
                f"guest range of {length} bytes at {address:#x} is larger than guest RAM "
                f"({size:#x} bytes)",
                address,
            )
        cr0, _, _, _ = self._live.control_registers()
        if not cr0 & CR0_PG:
            self._memory.check(address, length)
            return [(address, length)]
        pieces: list[tuple[int, int]] = []
        end = address + length
        while address < end:
            n = min(end - address, PAGE_SIZE - (address & (PAGE_SIZE - 1)))
            phys = self.physical(address)
            self._memory.check(phys, n)
            if pieces and pieces[-1][0] + pieces[-1][1] == phys:
                pieces[-1] = (pieces[-1][0], pieces[-1][1] + n)
            else:
                pieces.append((phys, n))
            address += n
        return pieces

    def read(self, address: int, length: int) -> bytes:
        return b"".join(self._memory.read(p, n) for p, n in self._ranges(address, length))

    def read_chunks(self, address: int, length: int) -> Iterator[bytes]:
        for phys, n in self._ranges(address, length):
            yield from self._memory.iter_chunks(phys, n)

    def read_cstring(self, address: int, limit: int = 1 << 16) -> bytes:
        out = bytearray()
        while len(out) < limit:
            n = min(limit - len(out), PAGE_SIZE - (address & (PAGE_SIZE - 1)))
            phys = self.physical(address)
            self._memory.check(phys, 1)
            chunk = self._memory.read(phys, min(n, self._memory.size - phys))
            nul = chunk.find(b"\0")
            if nul >= 0:
                return bytes(out + chunk[:nul])
            out += chunk
            address += len(chunk)
        raise GuestMemoryError(f"guest string has no NUL within {limit} bytes", address)


def _where(vcpu: Vcpu) -> tuple[str, int]:
    regs = vcpu.get_regs()
    sregs = vcpu.get_sregs()
    if not sregs.cr0 & 1:
        return f"CS:IP {sregs.cs.selector:04x}:{regs.rip & 0xFFFF:04x}", regs.rip
    return f"RIP {regs.rip:#x}", regs.rip


def _instruction_bytes(vcpu: Vcpu, memory: GuestMemory) -> str:
    regs, sregs = vcpu.get_regs(), vcpu.get_sregs()
    linear = regs.rip if sregs.efer & (1 << 10) and sregs.cs.l else sregs.cs.base + regs.rip
    try:
        phys = translate(memory, sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer, linear)
        n = max(0, min(MAX_INSTRUCTION, memory.size - phys))
        code = memory.read(phys, n) if n else b""
    except GuestMemoryError as e:
        return f"instruction bytes unavailable: {e}"
    if not code:
        return f"instruction at {linear:#x} is outside guest RAM"
    return "instruction bytes: " + code.hex(" ")


def _fault_message(exit: ex.Exit, vcpu: Vcpu, memory: GuestMemory) -> tuple[str, str]:
    """(end kind, message) for an exit that kills the guest."""
    where, _ = _where(vcpu)
    if isinstance(exit, ex.Shutdown):
        cr2 = vcpu.get_sregs().cr2
        return "shutdown", (
            f"guest fault: triple fault (KVM_EXIT_SHUTDOWN) at {where}, CR2 {cr2:#x}: an exception "
            "could not be delivered (no usable IDT?)"
        )
    if isinstance(exit, ex.InternalError):
        name = INTERNAL_ERROR_NAMES.get(exit.suberror, "unknown")
        msg = f"guest fault: KVM internal error, {name} (suberror {exit.suberror}) at {where}"
        if exit.suberror == KVM_INTERNAL_ERROR_EMULATION:
            msg += "; " + _instruction_bytes(vcpu, memory)
        if exit.data:
            msg += "; data " + " ".join(f"{d:#x}" for d in exit.data)
        return "internal_error", msg
    if isinstance(exit, ex.FailEntry):
        return "fail_entry", (
            f"guest fault: KVM could not enter the guest (hardware entry failure reason "
            f"{exit.reason:#x}) at {where}"
        )
    if isinstance(exit, ex.Mmio):
        direction = "write" if exit.is_write else "read"
        return "mmio", (
            f"guest fault: {exit.size}-byte {direction} at guest-physical {exit.address:#x}, "
            f"which is not RAM (RAM is 0..{memory.size - 1:#x}), at {where}"
            # KVM completes a write before it exits, so RIP has moved past the instruction
            + (" (the instruction after the write)" if exit.is_write else "")
        )
    assert isinstance(exit, ex.Unknown)
    return "unhandled_exit", (
        f"guest fault: unhandled KVM exit '{exit.name}' (reason {exit.reason}) at {where}"
    )


def run(
    vcpu: Vcpu,
    bus: IoBus,
    memory: GuestMemory,
    *,
    timeout: float | None = None,
    strict: bool = False,
) -> RunResult:
    """Run the vCPU until HLT, HC_EXIT, a fault, the timeout or Ctrl-C; never raises for
    anything the guest does."""
    stats = ExitStats()
    cpu = GuestCpu(vcpu.live, memory)
    stopper = Stopper(vcpu)
    fault: str | None = None
    end, status = "interrupted", 0
    with stopper.armed(timeout):
        t0 = perf_counter()
        try:
            end, status, fault = _loop(vcpu, bus, cpu, memory, stats, stopper, strict)
        except KeyboardInterrupt:
            end, status = "interrupted", 0
        finally:
            stats.guest_wall_s = perf_counter() - t0
    if end == "interrupted" and stopper.reason == "timeout":
        end = "timeout"
    stats.end = end
    result = RunResult(end, status, exit_code_for(end, status), stats)
    if fault is not None or end in ("timeout", "interrupted"):
        where, rip = _where(vcpu)
        result.rip = rip
        if fault is not None:
            result.fault = fault
            result.register_dump = format_register_dump(vcpu.get_regs(), vcpu.get_sregs())
        elif end == "timeout":
            result.fault = f"timeout: the guest ran past {timeout:g} s; it was at {where}"
        else:
            result.fault = f"interrupted: stopped by Ctrl-C at {where}"
    return result


def _loop(
    vcpu: Vcpu,
    bus: IoBus,
    cpu: GuestCpu,
    memory: GuestMemory,
    stats: ExitStats,
    stopper: Stopper,
    strict: bool,
) -> tuple[str, int, str | None]:
    vrun = vcpu.run
    bus_write = bus.write
    bus_read = bus.read
    owns = bus.owns
    ports = stats.exits_by_port
    reasons = stats.exits_by_reason
    IoOut, IoIn = ex.IoOut, ex.IoIn  # noqa: N806 - local aliases for the hot path
    total = n_io = 0
    try:
        while True:
            exit = vrun()
            total += 1
            t = type(exit)
            if t is IoOut or t is IoIn:
                n_io += 1
                port = exit.port
                ports[port] = ports.get(port, 0) + 1
                if strict and not owns(port):
                    direction = "write to" if t is IoOut else "read from"
                    return "unowned_port", 0, (
                        f"guest fault: {direction} I/O port {port:#x} that no device owns "
                        f"(strict) at {_where(vcpu)[0]}"
                    )
                try:
                    if t is IoIn:
                        vcpu.complete_io_in(bus_read(port, exit.size, exit.count))
                        continue
                    action = bus_write(port, exit.data, cpu, exit.size)
                except GuestMemoryError as e:
                    return "bad_pointer", 0, f"guest fault: bad pointer: {e} at {_where(vcpu)[0]}"
                if action is None:
                    continue
                at = type(action)
                if at is Return:
                    cpu.set_result(action.value)
                    continue
                if at is Stop:
                    return action.end, action.status, None
                if at is Fault:
                    message = f"guest fault: {action.message} at {_where(vcpu)[0]}"
                    return action.kind, 0, message
                continue
            name = ex.exit_name(exit)
            reasons[name] = reasons.get(name, 0) + 1
            if t is ex.Hlt:
                return "hlt", 0, None
            if t is ex.Interrupted:
                if stopper.reason is not None:
                    return stopper.reason, 0, None
                continue  # some other signal interrupted KVM_RUN: carry on
            kind, message = _fault_message(exit, vcpu, memory)
            return kind, 0, message
    finally:
        stats.total_exits = total
        if n_io:
            reasons["io"] = reasons.get("io", 0) + n_io

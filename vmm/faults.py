"""What a fault report says: which exit ended the guest, where it was, and its registers.

Everything here reads the vCPU through the backend interface, so a report reads the same
whichever backend ran the guest.
"""

from __future__ import annotations

from vmm import exits as ex
from vmm.backend import VcpuBackend
from vmm.cpu import CR0_PE, EFER_LMA, format_register_dump
from vmm.errors import GuestMemoryError
from vmm.memory import GuestMemory
from vmm.paging import translate
from vmm.vocabulary import RunEnd

MAX_INSTRUCTION = 15


def where(vcpu: VcpuBackend) -> tuple[str, int]:
    """("CS:IP 0000:1003" in real mode, else "RIP 0x..."), and RIP itself."""
    regs = vcpu.get_regs()
    sregs = vcpu.get_sregs()
    if not sregs.cr0 & CR0_PE:
        return f"CS:IP {sregs.cs.selector:04x}:{regs.rip & 0xFFFF:04x}", regs.rip
    return f"RIP {regs.rip:#x}", regs.rip


def instruction_bytes(vcpu: VcpuBackend, memory: GuestMemory) -> str:
    """The bytes at CS:RIP, for a fault the instruction itself caused."""
    regs, sregs = vcpu.get_regs(), vcpu.get_sregs()
    long = sregs.efer & EFER_LMA and sregs.cs.l
    linear = regs.rip if long else sregs.cs.base + regs.rip
    try:
        phys = translate(memory, sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer, linear)
        n = max(0, min(MAX_INSTRUCTION, memory.size - phys))
        code = memory.read(phys, n) if n else b""
    except GuestMemoryError as e:
        return f"instruction bytes unavailable: {e}"
    if not code:
        return f"instruction at {linear:#x} is outside guest RAM"
    return "instruction bytes: " + code.hex(" ")


def register_dump(vcpu: VcpuBackend) -> str:
    return format_register_dump(vcpu.get_regs(), vcpu.get_sregs())


def exit_fault(exit: ex.Exit, vcpu: VcpuBackend, memory: GuestMemory) -> tuple[RunEnd, str]:
    """(end, message) for an exit that kills the guest."""
    at, _ = where(vcpu)
    if isinstance(exit, ex.Shutdown):
        cr2 = vcpu.get_sregs().cr2
        if exit.cause:
            return RunEnd.SHUTDOWN, (f"guest fault: triple fault at {at}, CR2 {cr2:#x}: "
                                     f"{exit.cause} (no usable IDT?)")
        return RunEnd.SHUTDOWN, (
            f"guest fault: triple fault (KVM_EXIT_SHUTDOWN) at {at}, CR2 {cr2:#x}: an exception "
            "could not be delivered (no usable IDT?)"
        )
    if isinstance(exit, ex.InternalError):
        name = ex.INTERNAL_ERROR_NAMES.get(exit.suberror, "unknown")
        msg = f"guest fault: KVM internal error, {name} (suberror {exit.suberror}) at {at}"
        if exit.suberror == ex.EMULATION_FAILURE:
            msg += "; " + instruction_bytes(vcpu, memory)
        if exit.data:
            msg += "; data " + " ".join(f"{d:#x}" for d in exit.data)
        return RunEnd.INTERNAL_ERROR, msg
    if isinstance(exit, ex.FailEntry):
        return RunEnd.FAIL_ENTRY, (
            f"guest fault: KVM could not enter the guest (hardware entry failure reason "
            f"{exit.reason:#x}) at {at}"
        )
    if isinstance(exit, ex.Mmio):
        direction = "write" if exit.is_write else "read"
        return RunEnd.MMIO, (
            f"guest fault: {exit.size}-byte {direction} at guest-physical {exit.address:#x}, "
            f"which is not RAM (RAM is 0..{memory.size - 1:#x}), at {at}"
            # KVM completes a write before it exits, so RIP has moved past the instruction
            + (" (the instruction after the write)" if exit.is_write else "")
        )
    name = exit.name if isinstance(exit, ex.Unknown) else ex.exit_name(exit)
    reason = f" (reason {exit.reason})" if isinstance(exit, ex.Unknown) else ""
    return RunEnd.UNHANDLED_EXIT, f"guest fault: unhandled exit '{name}'{reason} at {at}"

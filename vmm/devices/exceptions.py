"""The default IDT's reporter: an exception in protected or long mode, named.

Until a guest loads its own IDT, every exception vector (0-31) leads to a stub in the system
area (vmm.modes) whose `out %al, $0xe5` lands here. Which stub it was gives the vector; the
frame the CPU pushed gives the faulting instruction's address, the flags and the error code.
The device puts RIP, RSP and RFLAGS back to what they were at the fault (the stub changed no
other register), so the report and the register dump show the guest where it failed, and ends
the run as a guest fault. An access to the port from anywhere else is ignored.
"""

from __future__ import annotations

from vmm.cpu import EFLAGS_RF
from vmm.device import Action, CpuView, Device, Fault
from vmm.errors import GuestMemoryError
from vmm.modes import SystemLayout
from vmm.vocabulary import CpuMode, RunEnd


class ExceptionReporter(Device):
    def __init__(self, layout: SystemLayout) -> None:
        self._layout = layout

    def io_write(self, offset: int, data: bytes, cpu: CpuView) -> Action | None:
        vector = self._layout.stub_vector(cpu.rip)
        if vector is None or cpu.mode is CpuMode.REAL:
            return None
        from vmm.vectors import ERROR_CODE_VECTORS, error_code_text, vector_name
        long = cpu.mode in (CpuMode.LONG, CpuMode.COMPAT)
        word = 8 if long else 4
        has_code = vector in ERROR_CODE_VECTORS
        rsp = cpu.rsp
        try:
            frame = cpu.read(cpu.linear(rsp, "ss") if not long else rsp, word * 6)
        except GuestMemoryError:
            return Fault(RunEnd.EXCEPTION, f"{vector_name(vector)} (its frame is unreadable)",
                         vector)
        values = [int.from_bytes(frame[i:i + word], "little") for i in range(0, 6 * word, word)]
        code = values.pop(0) if has_code else None
        rip, _cs, rflags = values[0], values[1], values[2]
        cpu.set_reg("rip", rip)
        cpu.set_reg("rflags", rflags & ~EFLAGS_RF)  # RF: KVM sets it in the pushed flags
        cpu.set_reg("rsp", values[3] if long else rsp + word * (3 + has_code))
        message = vector_name(vector)
        if code is not None:
            message += ", " + error_code_text(vector, code)
        return Fault(RunEnd.EXCEPTION, message, vector)

    def io_read(self, offset: int, size: int) -> bytes:
        return bytes(size)

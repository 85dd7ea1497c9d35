"""Watching a vCPU run: the hook a tracer or a debugger plugs into the run loop.

The run loop tells a Monitor about every exit, and hands it the Debug exits it asked for (with
VcpuBackend.set_guest_debug). A monitor sees the vCPU through the backend interface, so it
works on every backend; without one the loop pays nothing.
"""

from __future__ import annotations

from vmm import exits as ex
from vmm.backend import VcpuBackend
from vmm.memory import GuestMemory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vmm.runloop import VcpuEnd


class Monitor:
    """Override what you need; every method's default does nothing."""

    def attach(self, vcpu: VcpuBackend, memory: GuestMemory) -> None:
        """Called once on the vCPU's thread, before its first run (set up guest debug here)."""

    def on_exit(self, exit: ex.Exit) -> VcpuEnd | None:
        """Every exit but Debug ones, before the loop acts on it. Return None to let the loop
        act on it, or how the run ends (a debugger's kill arrives with an Interrupted exit)."""
        return None

    def on_io_in(self, data: bytes) -> None:
        """The bytes the VMM answered the last IoIn exit with (the guest sees them when it
        resumes)."""

    def on_completed(self, instruction: str) -> None:
        """The VMM completed the instruction the last InternalError exit gave up on
        (vmm.completion; `instruction` names it): the vCPU is past it now."""

    def on_debug(self, exit: ex.Debug) -> VcpuEnd | None:
        """A Debug exit. Return None to let the guest go on, or how the run ends."""
        return None

    def on_fault(self, end: VcpuEnd) -> None:
        """The run ends as a guest fault (`end`); the vCPU is as the fault left it. A debugger
        shows the guest here before the run ends."""

    def detach(self, end: VcpuEnd) -> None:
        """The loop has ended (how, in `end`); called on the vCPU's thread."""

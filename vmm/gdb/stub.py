"""The GDB stub: a Monitor that stops the vCPU where gdb asks and serves gdb while it is stopped.

It waits for gdb before the first instruction (`attach`), then runs the guest as gdb says:
continue, step one instruction, or step while the pc stays in a range (gdb's `step`/`next`
over a source line). Breakpoints are VcpuBackend.set_guest_debug breakpoints, so guest memory
is never patched. Ctrl-C in gdb asks the running vCPU to stop. A guest fault of any kind stops
it first, at the fault, with the signal Linux would send a process for it (SIGFPE for a divide
error, SIGILL for an invalid opcode, SIGTRAP for int3, SIGSEGV for the rest), so gdb can look
before the run ends; whatever gdb does next (continue, step, kill, detach), the run then ends
as that fault.

How a run ends with gdb: the guest's own end (gdb hears W or X), `kill` or quitting gdb, a
lost connection or a bad packet (RunEnd.KILLED), or a stop from outside (the watchdog, kasm's
Ctrl-C: the connection is closed and the run ends as the stop says). After `detach` the guest
runs on to its end without the stub.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from vmm import exits as ex
from vmm.backend import VcpuBackend
from vmm.cpu import cpu_mode
from vmm.faults import where
from vmm.gdb import registers
from vmm.gdb.connection import LOCALHOST, Closed, Connection, GdbError, GdbServer
from vmm.gdb.packets import Interrupt, Malformed, Packet
from vmm.gdb.session import (
    SIGALRM,
    SIGFPE,
    SIGILL,
    SIGINT,
    SIGPIPE,
    SIGSEGV,
    SIGTRAP,
    Detach,
    Kill,
    NoAck,
    Resume,
    Session,
)
from vmm.gdb.target import REAL, Description, description_for
from vmm.memory import GuestMemory
from vmm.modes import SystemLayout
from vmm.monitor import Monitor
from vmm.runloop import VcpuEnd
from vmm.vocabulary import RunEnd

_SIGNAL_OF_END = {RunEnd.INTERRUPTED: SIGINT, RunEnd.TIMEOUT: SIGALRM,
                  RunEnd.OUTPUT_CLOSED: SIGPIPE}
# Exceptions as Linux signals them to a process (#DE, #DB, #BP, #UD, #MF, #XM); others SIGSEGV.
_SIGNAL_OF_VECTOR = {0: SIGFPE, 1: SIGTRAP, 3: SIGTRAP, 6: SIGILL, 16: SIGFPE, 19: SIGFPE}


def fault_signal(end: VcpuEnd) -> int:
    """The signal gdb is given for a guest fault: the exception's, else SIGSEGV."""
    if end.vector is None:
        return SIGSEGV
    return _SIGNAL_OF_VECTOR.get(end.vector, SIGSEGV)


def exit_packet(end: VcpuEnd) -> bytes:
    """How gdb hears the run ended: W and an exit code, or X and a signal (a guest fault's
    signal, the watchdog SIGALRM, Ctrl-C SIGINT, stdout's reader gone SIGPIPE)."""
    if end.end.is_fault:
        return b"X%02x" % fault_signal(end)
    signal = _SIGNAL_OF_END.get(end.end)
    if signal is not None:
        return b"X%02x" % signal
    return b"W%02x" % end.end.exit_code(end.status)


def _arch_option(description: Description) -> str:
    """gdb takes the architecture from the ELF when it has one, and for a 16-bit program that
    is i386 (BFD ranks it above the description's i8086): real mode needs saying so, once
    connected (before, gdb warns about its default OS ABI)."""
    if description is REAL:
        return f" -ex 'set architecture {REAL.architecture}'"
    return ""


class GdbStub(Monitor):
    """Serves one gdb over the run of one vCPU. `exec_file` is the ELF gdb may load symbols
    from when it was started without one; `log` hears the stub's messages."""

    def __init__(self, server: GdbServer, *, exec_file: str | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.server = server
        self.exec_file = exec_file
        self._log = log or (lambda text: None)
        self._conn: Connection | None = None
        self._session: Session | None = None
        self._lock = threading.Lock()  # _running and _kicked, shared with the reader thread
        self._running = False  # gdb waits for a stop reply
        self._kicked = False  # we asked the running vCPU to stop
        self._pending_end: VcpuEnd | None = None
        self._action = Resume()
        self._single_step = False  # Debug exits after every instruction are on
        self._stepping_over = False  # the first of them leaves a breakpoint's address
        self._step_stop: str | None = None  # a step ended by an I/O exit: stop, for this
        self._faulted = False  # the run ends as a guest fault, once gdb has looked
        self._noted: set[str] = set()

    @classmethod
    def listen(cls, port: int, host: str = LOCALHOST, **options: object) -> GdbStub:
        """A stub listening on host:port (0: any free port; see `port`)."""
        return cls(GdbServer(port, host), **options)  # type: ignore[arg-type]

    @property
    def port(self) -> int:
        return self.server.port

    # -- the Monitor hooks ------------------------------------------------------------------

    def attach(self, vcpu: VcpuBackend, memory: GuestMemory) -> None:
        self.vcpu = vcpu
        try:
            vcpu.set_guest_debug()
        except NotImplementedError:
            self.server.close()
            raise GdbError("this backend cannot stop a guest for gdb yet (it has no guest "
                           "debugging)") from None
        description = description_for(cpu_mode(vcpu.get_sregs()))
        self._log(f"waiting for gdb on {self.server.host}:{self.port}: "
                  f"gdb -ex 'target remote :{self.port}'{_arch_option(description)}")
        conn = self.server.accept(cancelled=lambda: vcpu.stop_requested)
        if conn is None:
            return  # stopped before gdb came: the run loop ends the run
        self._conn = conn
        self._session = Session(vcpu, memory, description, self.exec_file)
        self._layout = SystemLayout.for_memory(memory.size)
        conn.start(self._wake)
        end = self._serve()
        if end is not None:  # killed before the first instruction: end at the first run
            self._pending_end = end
            vcpu.request_stop()

    def on_debug(self, exit: ex.Debug) -> VcpuEnd | None:
        if self._session is None:
            return None
        if self._layout.in_exception_stubs(exit.pc):
            return None  # a step into the default IDT: its report of the fault stops gdb next
        reason = self._after_instruction(exit.pc, exit.breakpoint)
        if reason is None:
            return None
        return self._stop(SIGTRAP, reason)

    def on_exit(self, exit: ex.Exit) -> VcpuEnd | None:
        if self._pending_end is not None:
            end, self._pending_end = self._pending_end, None
            return end
        if self._session is None:
            return None
        kind = type(exit)
        if kind is ex.Interrupted:
            return self._interrupted()
        if (kind is ex.IoOut or kind is ex.IoIn) and self._single_step:
            # An instruction that exits has no Debug exit of its own: this one is its step.
            # Stop once the device has done its part (the run loop acts after this hook).
            self._stepped_by_exit()
        return None

    def on_completed(self, instruction: str) -> None:
        if self._session is not None and self._single_step:
            self._stepped_by_exit()  # the VMM did this step (an iret KVM gave up on)

    def _stepped_by_exit(self) -> None:
        """A step that ended in an exit the run loop carries out: stop once it has."""
        pc = registers.linear_pc(self.vcpu.get_regs(), self.vcpu.get_sregs())
        self._step_stop = self._after_instruction(pc, False)
        if self._step_stop is not None:
            self._kick()

    def on_fault(self, end: VcpuEnd) -> None:
        if self._session is None:
            return
        self._faulted = True
        self._step_stop = None  # the fault is this step's stop
        self._stop(fault_signal(end))  # gdb's kill or detach ends the run as the fault too

    def _after_instruction(self, pc: int, at_breakpoint: bool) -> str | None:
        """The guest is at `pc` after an instruction (or before one at a breakpoint): None to
        run on, else the stop's reason for gdb ("", "swbreak", "hwbreak")."""
        session = self._session
        assert session is not None
        action = self._action
        stepped_over, self._stepping_over = self._stepping_over, False
        if stepped_over and not action.step:  # the breakpoint is behind us: watch it again
            self._guest_debug(action.range is not None)
        reason = session.breakpoints.get(pc, "")
        if action.step:
            return reason if at_breakpoint else ""
        if action.range is not None:
            start, end = action.range
            return None if start <= pc < end and not reason else reason
        return reason if reason or not stepped_over else None

    def detach(self, end: VcpuEnd) -> None:
        self.server.close()
        conn = self._conn
        if conn is None:
            return
        with self._lock:
            running, self._running = self._running, False
        self._conn = self._session = None
        if running:  # gdb waits to hear how the guest it resumed ended
            conn.send(exit_packet(end))
            conn.finish()
        else:
            conn.close()

    # -- stopping and serving ---------------------------------------------------------------

    def _wake(self) -> None:
        """From the reader thread: gdb wants attention (Ctrl-C, gone, garbled)."""
        with self._lock:
            if self._running:
                self._kick()

    def _kick(self) -> None:
        """Stop the running vCPU at its next chance (an Interrupted exit of our own)."""
        if not self._kicked:
            self._kicked = True
            self.vcpu.request_stop()

    def _interrupted(self) -> VcpuEnd | None:
        with self._lock:
            kicked, self._kicked = self._kicked, False
        if not kicked:
            return None  # someone else stopped the run: the loop decides
        self.vcpu.clear_stop()
        if self._step_stop is not None:
            reason, self._step_stop = self._step_stop, None
            return self._stop(SIGTRAP, reason)
        assert self._conn is not None
        while True:
            event = self._conn.next_event(0)
            if event is None:
                return None  # an old Ctrl-C, already answered by a stop: run on
            if type(event) is Interrupt:
                return self._stop(SIGINT)
            if type(event) in (Closed, Malformed):
                return self._lost(event)  # type: ignore[arg-type]

    def _stop(self, signal: int, reason: str = "") -> VcpuEnd | None:
        session, conn = self._session, self._conn
        assert session is not None and conn is not None
        with self._lock:
            self._running = False
        self._note_mode_change()
        conn.send(session.stop_reply(signal, reason))
        return self._serve()

    def _serve(self) -> VcpuEnd | None:
        """Answer gdb until it resumes the guest (None) or ends the run (how)."""
        conn, session = self._conn, self._session
        assert conn is not None and session is not None
        while True:
            event = conn.next_event()
            if event is None:
                if self.vcpu.stop_requested and not self._kicked:
                    self._disconnect()  # the run is being stopped (timeout, kasm's Ctrl-C)
                    return None
                continue
            kind = type(event)
            if kind is Interrupt:
                continue  # already stopped
            if kind is not Packet:
                return self._lost(event)  # type: ignore[arg-type]
            outcome = session.handle(event.payload)  # type: ignore[union-attr]
            if type(outcome) is bytes:
                conn.send(outcome)
            elif type(outcome) is Resume:
                self._resume(outcome)
                return None
            elif type(outcome) is NoAck:
                conn.stop_acking()
                conn.send(b"OK")
            elif type(outcome) is Kill:
                if outcome.answer:
                    conn.send(outcome.answer)
                end = self._ended("gdb killed the guest")
                self._disconnect()
                return end
            else:
                assert type(outcome) is Detach
                conn.send(b"OK")
                self._disconnect()
                self._log("gdb detached" if self._faulted
                          else "gdb detached: the guest runs on to its end")
                return None

    def _resume(self, action: Resume) -> None:
        session = self._session
        assert session is not None
        if action.pc is not None:
            registers.set_pc(self.vcpu, action.pc)
        self._action = action
        pc = registers.linear_pc(self.vcpu.get_regs(), self.vcpu.get_sregs())
        # Leaving a breakpoint's address: one step without it, so it does not stop us again.
        self._stepping_over = pc in session.breakpoints
        if self._stepping_over:
            self._guest_debug(True, leaving=pc)
        else:
            self._guest_debug(action.step or action.range is not None)
        with self._lock:
            self._running = True

    def _guest_debug(self, single_step: bool, leaving: int | None = None) -> None:
        """Debug exits as the run needs them: single steps or not, and every breakpoint but the
        one at `leaving` (the address the guest resumes at)."""
        assert self._session is not None
        self._single_step = single_step
        self.vcpu.set_guest_debug(single_step=single_step, breakpoints=tuple(
            b for b in self._session.breakpoints if b != leaving))

    def _ended(self, what: str) -> VcpuEnd:
        return VcpuEnd(RunEnd.KILLED, 0, f"{what} at {where(self.vcpu)[0]}")

    def _lost(self, event: Closed | Malformed) -> VcpuEnd:
        if type(event) is Closed:
            what = event.reason
        else:
            what = f"gdb sent {event.reason}"
        end = self._ended(f"{what}: the guest was stopped")
        self._disconnect()
        return end

    def _disconnect(self) -> None:
        """No more gdb: the guest runs without Debug exits from here on."""
        conn = self._conn
        self._conn = self._session = None
        with self._lock:
            self._running = False
        if conn is not None:
            conn.close()
        self._single_step = False
        self.vcpu.set_guest_debug()

    def _note_mode_change(self) -> None:
        """Tell gdb (console output) once per mode when the guest left the mode whose
        registers gdb was given: gdb cannot take a new description mid-session."""
        assert self._session is not None and self._conn is not None
        mode = cpu_mode(self.vcpu.get_sregs())
        fitting, given = description_for(mode), self._session.description
        if fitting is given or mode.value in self._noted:
            return
        self._noted.add(mode.value)
        text = (f"kasm: the guest is in {mode} mode now; gdb keeps the {given.architecture} "
                f"registers it connected with")
        if fitting.wide and not given.wide:
            text += " (their low 32 bits; no r8-r15)"
        text += f"; `set architecture {fitting.architecture}` disassembles its code\n"
        self._conn.send(b"O" + text.encode().hex().encode())

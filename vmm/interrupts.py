"""The interrupt controller the run loop consults: the PICs, the PIT and the UART's IRQ4 wired
together, and the one way an interrupt reaches the vCPU on either backend.

Everything is emulated in user space, on the vCPU's thread, as ordinary devices on the bus (no
in-kernel irqchip: with one, KVM would handle HLT itself and a guest ending in `hlt` would no
longer end). The run loop calls in at two points:

- `before_entry`, before each run of the vCPU once the guest has touched a PIC port: the
  timer's due edges are counted, and if the PICs have a request the vCPU is handed its vector
  (`inject_interrupt`: KVM_INTERRUPT, or the emulator's own delivery through the IVT/IDT) when
  it can take one, or else asked to exit as soon as it can (`request_interrupt_window`).
- `halt`, at a HLT: with interrupts enabled and a source that can still fire on an unmasked
  line, the guest sleeps until an interrupt is due (or the run is stopped); otherwise the HLT
  ends the run, as it always has.

A guest that makes no exits is reached by a kick (`VcpuBackend.kick`) from the alarm thread
(vmm.alarm) at the timer's next edge or when input arrives. Ticks a guest does not take are
coalesced, as an 8259's edge-triggered request bit coalesces them: the alarm is armed only while
the next edge could raise a request that is not already raised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from vmm.backend import VcpuBackend
from vmm.bus import IoBus
from vmm.device import Action, CpuView, Device
from vmm.devices.pic import MASTER_PORT, SLAVE_PORT, PicPair, PicPorts
from vmm.devices.pit import PIT_PORT, PIT_PORTS, Pit
from vmm.devices.uart import UART_IRQ, Uart

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from vmm.alarm import Alarm, Target

TIMER_IRQ = 0
NOTHING = (None, None)  # an alarm target: wait for nothing
HALT_POLL_S = 0.05  # how often a sleeping HLT looks whether the run is being stopped


class StopSignal:
    """What `halt` needs of the run's stop switch (vmm.control.RunControl has it)."""

    stopping: bool


class Interrupts:
    """IRQ lines 0-15 through the PICs to one vCPU; counts what it delivers by IRQ line."""

    def __init__(self, clock: Callable[[], int] = time.monotonic_ns,
                 on_sleep: Callable[[], None] | None = None) -> None:
        """`on_sleep` is called when the guest goes to sleep in HLT (to show its output)."""
        self._clock = clock
        self._on_sleep = on_sleep
        self.pics = PicPair()
        self.pit = Pit(clock)
        self._uart: Uart | None = None
        self.injected: dict[int, int] = {}  # interrupts delivered, by IRQ line
        self._vcpu: VcpuBackend | None = None
        self._alarm: Alarm | None = None
        self._lock = threading.Lock()  # _halted, as the alarm thread sees it
        self._halted = False
        self._wakeup = threading.Event()
        self._input_ready = False  # the alarm saw the UART's input become readable
        self._deadline: int | None = None  # the timer's next edge
        # Whether interrupts can happen at all: not before the guest touches a PIC (at boot
        # every line is masked), so guests that never do pay one attribute test an exit.
        self.active = False
        self.pit.changed = True  # the first _sync looks the timer up
        self._window = False

    def register(self, bus: IoBus) -> None:
        """The PICs' and the PIT's ports; each access first brings the timer up to now, so
        the guest sees (and changes) them in the order things happened."""
        pics, sync = self.pics, self._sync
        bus.register(_Synced(PicPorts(pics, pics.master), sync, self._activate), MASTER_PORT, 2)
        bus.register(_Synced(PicPorts(pics, pics.slave), sync, self._activate), SLAVE_PORT, 2)
        bus.register(_Synced(self.pit, sync), PIT_PORT, PIT_PORTS)

    def _activate(self) -> None:
        self.active = True

    def line(self, irq: int) -> Callable[[bool], None]:
        """The input of IRQ line `irq`, for a device's interrupt output."""
        set_irq = self.pics.set_irq
        return lambda level: set_irq(irq, level)

    def attach_uart(self, uart: Uart) -> None:
        """The UART whose input the alarm watches (its output is `line(UART_IRQ)`)."""
        self._uart = uart

    def close(self) -> None:
        """Stop the alarm thread (the run is over); idempotent."""
        if self._alarm is not None:
            self._alarm.close()
            self._alarm = None
        self._vcpu = None

    # --- the run loop's calls (on the vCPU's thread) ------------------------------------------
    def before_entry(self, vcpu: VcpuBackend) -> None:
        """Deliver the PICs' request if the vCPU can take it now, else ask to hear when."""
        if self._vcpu is not vcpu:
            self._start(vcpu)
        self._sync()
        want_window = False
        if self.pics.requested():
            if vcpu.interrupt_ready():
                taken = self.pics.acknowledge()
                if taken is not None:
                    irq, vector = taken
                    self.injected[irq] = self.injected.get(irq, 0) + 1
                    vcpu.inject_interrupt(vector)
                    self._sync()  # the request bit is clear again: the next edge matters
            else:
                want_window = True
        if want_window != self._window:
            self._window = want_window
            vcpu.request_interrupt_window(want_window)

    def halt(self, vcpu: VcpuBackend, control: StopSignal) -> bool:
        """The guest executed HLT. False: nothing can wake it, the HLT ends the run. True: it
        slept until an interrupt was due or the run is being stopped; run it again."""
        if not self.active or not vcpu.interrupt_ready():
            return False
        if self._vcpu is not vcpu:
            self._start(vcpu)
        self._sync()
        if not self.pics.requested() and not self._can_fire():
            return False
        with self._lock:
            self._halted = True  # from now on the alarm wakes us instead of kicking
        if self._on_sleep is not None:
            self._on_sleep()
        try:
            while True:
                self._wakeup.clear()
                self._sync()  # after clear(): an alarm from now on sets the event again
                if self.pics.requested() or control.stopping:
                    break
                self._wakeup.wait(HALT_POLL_S)
        finally:
            with self._lock:
                self._halted = False
        return True

    # --- inside ---------------------------------------------------------------------------------
    def _start(self, vcpu: VcpuBackend) -> None:
        self._vcpu = vcpu
        vcpu.expect_interrupts()
        if self._alarm is None:
            from vmm.alarm import Alarm  # a thread, for guests that use interrupts only

            self._alarm = Alarm(self._fired, self._clock)

    def _sync(self) -> None:
        """Bring the sources up to now, and tell the alarm what to wait for next."""
        now = self._clock()
        pit = self.pit
        if pit.changed or self._deadline is not None and now >= self._deadline:
            pit.changed = False
            if pit.irq0_edges(now):
                self.pics.set_irq(TIMER_IRQ, False)
                self.pics.set_irq(TIMER_IRQ, True)
            self.pics.set_irq(TIMER_IRQ, pit.irq0_out(now))
            self._deadline = pit.next_irq0_edge(now)
        uart = self._uart
        if uart is not None and self._input_ready:
            self._input_ready = False
            uart.poll()
        if self._alarm is not None:
            self._alarm.set(self._alarm_target())

    def _alarm_target(self) -> Target:
        """Wake for the timer only while its next edge would raise a new request, and for
        input only while it would: everything else waits for the guest's next exit."""
        pics = self.pics
        deadline = None
        if (self._deadline is not None and pics.reaches_cpu(TIMER_IRQ)
                and not pics.master.irr & 1 << TIMER_IRQ):
            deadline = self._deadline
        fd = None
        if self._uart is not None and pics.reaches_cpu(UART_IRQ):
            fd = self._uart.watch_fd()
        return NOTHING if deadline is None and fd is None else (deadline, fd)

    def _can_fire(self) -> bool:
        """Whether a source on a line that reaches the CPU can still raise a request."""
        pics = self.pics
        if pics.reaches_cpu(TIMER_IRQ) and self._deadline is not None:
            return True
        return (self._uart is not None and pics.reaches_cpu(UART_IRQ)
                and self._uart.may_interrupt())

    def _fired(self, input_ready: bool) -> None:
        """On the alarm's thread: wake the sleeping HLT, or kick the running vCPU."""
        if input_ready:
            self._input_ready = True
        with self._lock:
            if self._halted:
                self._wakeup.set()
                return
            vcpu = self._vcpu
        if vcpu is not None:
            vcpu.kick()


class _Synced(Device):
    """A device whose accesses first call `sync`, and then `after` (when given)."""

    def __init__(self, device: Device, sync: Callable[[], None],
                 after: Callable[[], None] | None = None) -> None:
        self._device = device
        self._sync = sync
        self._after = after

    def io_write(self, offset: int, data: bytes, cpu: CpuView) -> Action | None:
        self._sync()
        action = self._device.io_write(offset, data, cpu)
        if self._after is not None:
            self._after()
        return action

    def io_read(self, offset: int, size: int) -> bytes:
        self._sync()
        data = self._device.io_read(offset, size)
        if self._after is not None:
            self._after()
        return data


"""The KVM vCPU: its kvm_run page, register access, KVM_RUN itself, and stopping it.

`Vcpu` implements vmm.backend.VcpuBackend. `run()` is the hot path of the VMM, so it reuses
pre-built cdata and caches exit values instead of allocating per exit.
"""

from __future__ import annotations

import errno
import mmap
import os
import signal
import threading

from vmm import exits as ex
from vmm.backend import VcpuBackend
from vmm.cpu import CR0_PG, REGISTER_NAMES, Registers, SpecialRegisters
from vmm.errors import KvmApiError, VmmError
from vmm.kvm import _abi as abi
from vmm.kvm._abi import check as _check
from vmm.kvm._abi import ffi
from vmm.kvm.kick import KICK_SIGNAL, install_kick_handler
from vmm.kvm.registers import LiveCpuState, snapshot, sregs_from_py, sregs_to_py

TYPE_CHECKING = False
if TYPE_CHECKING:
    from vmm.kvm.debug import GuestDebug
    from vmm.kvm.system import CpuidEntry, Vm

_ioctl = abi.libc.ioctl
_kvm_run = abi.ioctl_fixed
_OUT_CACHE_MAX = 4096
_cpuid_buffer: tuple[object, object, object] | None = None  # (entries, kvm_cpuid2 *, storage)


class Vcpu(VcpuBackend):
    """A vCPU: its kvm_run page, register access and KVM_RUN itself."""

    def __init__(self, vm: Vm, fd: int, index: int = 0) -> None:
        self.vm = vm
        self.index = index
        self._fd = fd
        kvm = vm.kvm
        try:
            self._mm = mmap.mmap(
                fd, kvm.vcpu_mmap_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
        except OSError as e:
            os.close(fd)
            raise KvmApiError(f"kvm: mmap of the vCPU run page failed: {e.strerror}") from None
        self._buf = ffi.from_buffer(self._mm)
        self._run = ffi.cast("struct kvm_run *", self._buf)
        self._io = ffi.addressof(self._run[0], "io")
        self._internal_error_data = kvm.has_internal_error_data
        both = abi.KVM_SYNC_X86_REGS | abi.KVM_SYNC_X86_SREGS
        # With sync regs, the kvm_run page is the one copy of the registers we read and write.
        self.sync_regs = (kvm.sync_regs & both) == both
        if self.sync_regs:
            self._regs = ffi.addressof(self._run.s.regs, "regs")
            self._sregs = ffi.addressof(self._run.s.regs, "sregs")
            _check(_ioctl(fd, abi.KVM_GET_REGS, self._regs), "KVM_GET_REGS")
            _check(_ioctl(fd, abi.KVM_GET_SREGS, self._sregs), "KVM_GET_SREGS")
            self._run.kvm_valid_regs = both
        else:
            self._regs = ffi.new("struct kvm_regs *")
            self._sregs = ffi.new("struct kvm_sregs *")
            self._run.kvm_valid_regs = 0
        # Without sync regs: whether _regs/_sregs hold this exit's values yet.
        self._regs_fresh = self.sync_regs
        self._sregs_fresh = self.sync_regs
        self._out_cache: dict[tuple[int, int, bytes], ex.IoOut] = {}
        self._in_cache: dict[tuple[int, int, int], ex.IoIn] = {}
        self._pending_in = -1
        self.state = LiveCpuState(self, ffi.addressof(self._sregs, "cs"))
        install_kick_handler()
        self._stop_lock = threading.Lock()
        self._runner: int | None = None  # the thread inside run(), to kick out of KVM_RUN
        self._debug: GuestDebug | None = None
        self._stopping = False
        self._kicked = False  # immediate_exit was set by kick(), not by a stop
        self._irq = ffi.new("uint32_t *")
        self._events = ffi.new("struct kvm_vcpu_events *")

    def __enter__(self) -> Vcpu:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        if self._fd < 0:
            return
        self._io = self._run = self._regs = self._sregs = None  # type: ignore[assignment]
        ffi.release(self._buf)
        self._mm.close()
        os.close(self._fd)
        self._fd = -1

    # --- stopping -------------------------------------------------------------------------
    # kvm_run.immediate_exit makes a KVM_RUN about to start return EINTR at once; KICK_SIGNAL
    # sent to the thread inside KVM_RUN makes a running one return EINTR. A stop keeps
    # immediate_exit set; a kick (an interrupt to deliver) is cleared by the EINTR it causes.
    @property
    def stop_requested(self) -> bool:
        return self._fd >= 0 and self._stopping

    def request_stop(self) -> None:
        with self._stop_lock:
            self._stopping = True
            self._interrupt_run()

    def kick(self) -> None:
        with self._stop_lock:
            self._kicked = True
            self._interrupt_run()

    def _interrupt_run(self) -> None:
        """With _stop_lock held."""
        if self._fd < 0:
            return
        self._run.immediate_exit = 1
        if self._runner is not None:
            try:
                signal.pthread_kill(self._runner, KICK_SIGNAL)
            except (ProcessLookupError, OSError):
                pass

    def _kick_taken(self) -> None:
        """KVM_RUN returned EINTR: a kick has done its work (a stop stays)."""
        with self._stop_lock:
            if self._kicked:
                self._kicked = False
                if not self._stopping:
                    self._run.immediate_exit = 0

    def clear_stop(self) -> None:
        """Called by the thread that ran the vCPU once it stops running it."""
        with self._stop_lock:
            self._runner = None
            self._stopping = self._kicked = False
            if self._fd >= 0:
                self._run.immediate_exit = 0

    # --- external interrupts ----------------------------------------------------------------
    def interrupt_ready(self) -> bool:
        run = self._run
        return bool(run.ready_for_interrupt_injection and run.if_flag)

    def inject_interrupt(self, vector: int) -> None:
        self._irq[0] = vector
        _check(_ioctl(self._fd, abi.KVM_INTERRUPT, self._irq), "KVM_INTERRUPT")

    def request_interrupt_window(self, wanted: bool) -> None:
        self._run.request_interrupt_window = int(wanted)

    # --- registers ------------------------------------------------------------------------
    def live_regs(self):  # noqa: ANN201 - cffi struct kvm_regs, this exit's (read, not copied)
        if not self._regs_fresh:
            _check(_ioctl(self._fd, abi.KVM_GET_REGS, self._regs), "KVM_GET_REGS")
            self._regs_fresh = True
        return self._regs

    def live_sregs(self):  # noqa: ANN201 - cffi struct kvm_sregs, this exit's (read, not copied)
        if not self._sregs_fresh:
            _check(_ioctl(self._fd, abi.KVM_GET_SREGS, self._sregs), "KVM_GET_SREGS")
            self._sregs_fresh = True
        return self._sregs

    def set_live_reg(self, name: str, value: int) -> None:
        regs = self.live_regs()
        setattr(regs, name, value & 0xFFFF_FFFF_FFFF_FFFF)
        if self.sync_regs:
            self._run.kvm_dirty_regs |= abi.KVM_SYNC_X86_REGS
        else:
            _check(_ioctl(self._fd, abi.KVM_SET_REGS, regs), "KVM_SET_REGS")

    def get_regs(self) -> Registers:
        c = self.live_regs()
        return Registers(*(getattr(c, n) for n in REGISTER_NAMES))

    def set_regs(self, regs: Registers) -> None:
        c = self._regs
        for n in REGISTER_NAMES:
            setattr(c, n, getattr(regs, n) & 0xFFFF_FFFF_FFFF_FFFF)
        _check(_ioctl(self._fd, abi.KVM_SET_REGS, c), "KVM_SET_REGS")
        self._regs_fresh = True
        self._drop_stale_injection()

    def _drop_stale_injection(self) -> None:
        """Measured on PVM's KVM: KVM_SET_REGS (the VMM completing a handler's IRET) now and
        then queues the interrupt delivered last once more, and the guest then takes it at
        every entry, in a loop. Nothing can be queued legitimately when registers are set
        (the VMM injects only right before KVM_RUN, which delivers it), so a queued
        interrupt is dropped."""
        events = self._events
        _check(_ioctl(self._fd, abi.KVM_GET_VCPU_EVENTS, events), "KVM_GET_VCPU_EVENTS")
        if events.interrupt.injected:
            events.interrupt.injected = 0
            events.flags = 0  # set exceptions, interrupt and NMI only, as they are
            _check(_ioctl(self._fd, abi.KVM_SET_VCPU_EVENTS, events), "KVM_SET_VCPU_EVENTS")

    def get_sregs(self) -> SpecialRegisters:
        return sregs_to_py(self.live_sregs())

    def set_sregs(self, sregs: SpecialRegisters) -> None:
        c = self._sregs
        _check(_ioctl(self._fd, abi.KVM_GET_SREGS, c), "KVM_GET_SREGS")
        sregs_from_py(c, sregs)
        _check(_ioctl(self._fd, abi.KVM_SET_SREGS, c), "KVM_SET_SREGS")
        # Re-read: KVM normalises some fields.
        _check(_ioctl(self._fd, abi.KVM_GET_SREGS, c), "KVM_GET_SREGS")
        self._sregs_fresh = True
        if (sregs.cr0 & CR0_PG) and not (c.cr0 & CR0_PG):
            # Measured on kvm-pvm: it keeps CR0.PG clear unless EFER.LME is set, and the
            # vCPU would then shut down on its first instruction.
            raise KvmApiError(
                f"kvm: this host's KVM refused CR0={sregs.cr0:#x} (kept {c.cr0:#x}): it does not "
                "support paging in this mode (kvm-pvm supports paging only in long mode)"
            )

    def set_cpuid(self, entries: tuple[CpuidEntry, ...] | list[CpuidEntry]) -> None:
        global _cpuid_buffer
        if _cpuid_buffer is not None and _cpuid_buffer[0] is entries:
            c = _cpuid_buffer[1]  # the same (cached) table as last time: KVM only reads it
            _check(_ioctl(self._fd, abi.KVM_SET_CPUID2, c), "KVM_SET_CPUID2")
            return
        n = len(entries)
        buf = ffi.new("char[]", 8 + 40 * n)
        c = ffi.cast("struct kvm_cpuid2 *", buf)
        c.nent = n
        for i, e in enumerate(entries):
            d = c.entries[i]
            d.function, d.index, d.flags = e.function, e.index, e.flags
            d.eax, d.ebx, d.ecx, d.edx = e.eax, e.ebx, e.ecx, e.edx
        _check(_ioctl(self._fd, abi.KVM_SET_CPUID2, c), "KVM_SET_CPUID2")
        if isinstance(entries, tuple):
            _cpuid_buffer = (entries, c, buf)

    # --- running --------------------------------------------------------------------------
    def complete_io_in(self, data: bytes) -> None:
        """Answer the pending IN/INS exit; KVM copies it into the guest on the next run."""
        off = self._pending_in
        if off < 0:
            raise VmmError("vcpu: complete_io_in without a pending IN exit")
        self._mm[off : off + len(data)] = data
        self._pending_in = -1

    def set_guest_debug(self, single_step: bool = False, breakpoints: tuple[int, ...] = ()
                        ) -> None:
        if not single_step and not breakpoints:
            if self._debug is not None:
                self._debug = None
                self.ioctl(abi.KVM_SET_GUEST_DEBUG, ffi.new("struct kvm_guest_debug *"),
                           "KVM_SET_GUEST_DEBUG")
            return
        from vmm.kvm.debug import GuestDebug

        self._debug = GuestDebug(self, single_step, tuple(breakpoints))

    def ioctl(self, request: int, arg: object, what: str) -> None:
        _check(_ioctl(self._fd, request, arg), what)

    def live_registers(self):  # noqa: ANN201 - (struct kvm_regs, struct kvm_sregs), cffi
        """This exit's registers as KVM's own structs (read, not copied)."""
        return self.live_regs(), self.live_sregs()

    def snapshot(self) -> tuple[int, ...]:
        return snapshot(self.live_regs(), self.live_sregs())

    def debug_exit(self) -> tuple[int, int]:
        """(pc, dr6) of a KVM_EXIT_DEBUG."""
        arch = self._run.debug.arch
        return arch.pc, arch.dr6

    def run(self) -> ex.Exit:
        """One KVM_RUN: enter the guest until it needs us, and say why as an exit value.
        Under guest debug, the debug loop decides (it comes back here for each KVM_RUN)."""
        debug = self._debug
        if debug is not None and not debug.inside:
            return debug.run()
        if self._runner is None:
            self._runner = threading.get_ident()
        rc = _kvm_run(self._fd, abi.KVM_RUN, 0)
        if not self.sync_regs:
            self._regs_fresh = self._sregs_fresh = False
        if rc < 0:
            err = ffi.errno
            if err == errno.EINTR or err == errno.EAGAIN:
                if self._kicked:
                    self._kick_taken()
                return ex.INTERRUPTED
            _check(rc, "KVM_RUN")
        run = self._run
        reason = run.exit_reason
        if reason == abi.KVM_EXIT_IO:
            io = self._io
            size = io.size
            port = io.port
            off = io.data_offset
            count = io.count
            if io.direction == abi.KVM_EXIT_IO_OUT:
                data = self._mm[off : off + size * count]
                if count > 1 or size > 4:  # string I/O: not worth caching
                    return ex.IoOut(port, size, data)
                key = (port, size, data)
                exit = self._out_cache.get(key)
                if exit is None:
                    if len(self._out_cache) >= _OUT_CACHE_MAX:
                        self._out_cache.clear()
                    exit = self._out_cache[key] = ex.IoOut(port, size, data)
                return exit
            self._pending_in = off
            key_in = (port, size, count)
            exit_in = self._in_cache.get(key_in)
            if exit_in is None:
                exit_in = self._in_cache[key_in] = ex.IoIn(port, size, count)
            return exit_in
        if reason == abi.KVM_EXIT_HLT:
            return ex.HLT
        if reason == abi.KVM_EXIT_MMIO:
            m = run.mmio
            n = min(m.len, 8)
            return ex.Mmio(m.phys_addr, bytes(ffi.buffer(m.data, n)), m.len, bool(m.is_write))
        if reason == abi.KVM_EXIT_SHUTDOWN:
            return ex.SHUTDOWN
        if reason == abi.KVM_EXIT_FAIL_ENTRY:
            return ex.FailEntry(run.fail_entry.hardware_entry_failure_reason)
        if reason == abi.KVM_EXIT_INTERNAL_ERROR:
            i = run.internal
            n = min(i.ndata, 16) if self._internal_error_data else 0
            return ex.InternalError(i.suberror, tuple(i.data[k] for k in range(n)))
        if reason == abi.KVM_EXIT_IRQ_WINDOW_OPEN:
            return ex.IRQ_WINDOW_OPEN
        if reason == abi.KVM_EXIT_INTR:
            if self._kicked:
                self._kick_taken()
            return ex.INTERRUPTED
        return ex.Unknown(reason, abi.EXIT_NAMES.get(reason, "unknown"))

"""One unicorn x86 engine over guest RAM, reached through libunicorn's C API with ctypes.

The library comes from the `unicorn` package, but its Python binding is not imported: it loads
every architecture's constants (~50 ms) and wraps each call and hook in several Python layers.
Only what the emulated vCPU needs is declared here.

unicorn's register API is limited by the mode an engine was created in: a UC_MODE_16 engine
cannot read RBX once the guest has switched itself to long mode, a UC_MODE_64 one cannot be put
in real mode through it, and no mode reads a segment's descriptor cache. So every engine is
created in UC_MODE_64 and the CPU state is read and written through unicorn's *context*, a copy
of QEMU's CPUX86State: `save()` copies it out (under a microsecond), fields are read at fixed
offsets, `restore()` copies it back. The offsets are checked against the register API when the
engine opens, so a unicorn whose layout differs is refused instead of misread.
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct
from collections.abc import Callable

from vmm.errors import EmulatorUnavailable, VmmError

# unicorn.h / x86.h values (stable within unicorn 2.1)
UC_ARCH_X86 = 4
UC_MODE_64 = 8
UC_PROT_ALL = 7
UC_ERR_OK = 0
UC_ERR_READ_UNMAPPED = 6
UC_ERR_WRITE_UNMAPPED = 7
UC_ERR_FETCH_UNMAPPED = 8
UC_HOOK_INTR = 1
UC_HOOK_INSN = 2
UC_HOOK_CODE = 4
UC_HOOK_BLOCK = 8
UC_HOOK_MEM_UNMAPPED = 16 | 32 | 64
UC_MEM_WRITE_UNMAPPED = 20
UC_MEM_FETCH_UNMAPPED = 21
UC_X86_INS_IN = 218
UC_X86_INS_OUT = 500
REG_RAX = 35
REG_RCX = 38
REG_RIP = 41
REG_CR0, REG_CR2, REG_CR3, REG_CR4 = 50, 52, 53, 54
REG_DR0, REG_DR6, REG_DR7 = 66, 72, 73
REG_IDTR, REG_GDTR, REG_LDTR, REG_TR = 242, 243, 244, 245
REG_MSR = 248
REG_RFLAGS = 253
MSR_EFER = 0xC000_0080
UC_ERR_INSN_INVALID = 10
UC_CTL_WRITE = 1 << 30
UC_CTL_UC_USE_EXITS = 4 | 1 << 26  # with one argument
UC_CTL_TB_FLUSH = 10
NO_END = 0xFFFF_FFFF_FFFF_FFFF  # emu_start's `until`, ignored (UC_CTL_UC_USE_EXITS, no exits)

# CPUX86State (QEMU 5.0 as in unicorn 2.1), offsets into the context's data
CTX_HEADER = 40  # struct uc_context before its data
REGS = 0  # 16 x uint64: rax rcx rdx rbx rsp rbp rsi rdi r8..r15 (x86 encoding order)
EIP = 128
HFLAGS = 176
SEGS = 184  # SegmentCache es, cs, ss, ds, fs, gs: u32 selector, u64 base, u32 limit, u32 flags
LDT, TR, GDT, IDT = 328, 352, 376, 400
CR = 424  # cr0..cr4
EFER = 592
ERROR_CODE = 5384
EXCEPTION_IS_INT = 5388
EXCEPTION_NEXT_EIP = 5392
DR = 5400  # dr0..dr7
OLD_EXCEPTION = 5496  # the exception in flight (-1: none), from which QEMU escalates to #DF
SEGMENT = struct.Struct("<I4xQII")
SEGMENT_ORDER = ("es", "cs", "ss", "ds", "fs", "gs")
GPR_ORDER = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")  # fmt: skip
GPR_OFFSET = {name: REGS + 8 * i for i, name in enumerate(GPR_ORDER)}

OUT_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                            ctypes.c_uint32, ctypes.c_void_p)
IN_HOOK = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                           ctypes.c_void_p)
INTR_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
CODE_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                             ctypes.c_void_p)
BLOCK_HOOK = CODE_HOOK  # (engine, address, size, user data), as a code hook
# A block hook that takes none of its arguments (the C caller's extra ones are ignored, as in
# any cdecl call): ctypes then converts none, which halves the cost of each call
BARE_BLOCK_HOOK = ctypes.CFUNCTYPE(None)
MEM_HOOK = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64,
                            ctypes.c_int, ctypes.c_int64, ctypes.c_void_p)


class _Mmr(ctypes.Structure):
    """uc_x86_mmr: GDTR/IDTR (base, limit) and LDTR/TR (also selector and flags)."""

    _fields_ = (("selector", ctypes.c_uint16), ("base", ctypes.c_uint64),
                ("limit", ctypes.c_uint32), ("flags", ctypes.c_uint32))


class _Msr(ctypes.Structure):
    _fields_ = (("rid", ctypes.c_uint32), ("value", ctypes.c_uint64))


_lib: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    """libunicorn from the installed `unicorn` package, with the prototypes used here."""
    global _lib
    if _lib is not None:
        return _lib
    import importlib.util

    spec = importlib.util.find_spec("unicorn")
    if spec is None or spec.origin is None:
        raise EmulatorUnavailable(
            "emu: the unicorn package is not installed (pip install 'unicorn>=2.1.4,<2.2')")
    path = os.path.join(os.path.dirname(spec.origin), "lib", "libunicorn.so.2")
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise EmulatorUnavailable(f"emu: cannot load the unicorn library: {e}") from None
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.uc_version(ctypes.byref(major), ctypes.byref(minor))
    if (major.value, minor.value) != (2, 1):
        raise EmulatorUnavailable(
            f"emu: unicorn {major.value}.{minor.value} is installed; this VMM needs 2.1.x")
    u64, vp, i32 = ctypes.c_uint64, ctypes.c_void_p, ctypes.c_int
    for name, restype, argtypes in (
        ("uc_open", i32, (i32, i32, ctypes.POINTER(vp))),
        ("uc_close", i32, (vp,)),
        ("uc_mem_map_ptr", i32, (vp, u64, ctypes.c_size_t, ctypes.c_uint32, vp)),
        ("uc_mem_map", i32, (vp, u64, ctypes.c_size_t, ctypes.c_uint32)),
        ("uc_mem_unmap", i32, (vp, u64, ctypes.c_size_t)),
        ("uc_emu_start", i32, (vp, u64, u64, u64, ctypes.c_size_t)),
        ("uc_emu_stop", i32, (vp,)),
        ("uc_hook_del", i32, (vp, ctypes.c_size_t)),
        ("uc_reg_read", i32, (vp, i32, vp)),
        ("uc_reg_write", i32, (vp, i32, vp)),
        ("uc_context_alloc", i32, (vp, ctypes.POINTER(vp))),
        ("uc_context_size", ctypes.c_size_t, (vp,)),
        ("uc_context_save", i32, (vp, vp)),
        ("uc_context_restore", i32, (vp, vp)),
        ("uc_context_free", i32, (vp,)),
        ("uc_strerror", ctypes.c_char_p, (i32,)),
    ):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    # uc_hook_add is variadic (the instruction id follows for UC_HOOK_INSN): no argtypes
    lib.uc_hook_add.restype = i32
    lib.uc_ctl.restype = i32
    _lib = lib
    return lib


def _check(lib: ctypes.CDLL, err: int, what: str) -> None:
    if err != UC_ERR_OK:
        raise VmmError(f"emu: {what} failed: {lib.uc_strerror(err).decode()} (error {err})")


class Engine:
    """A UC_MODE_64 engine mapping guest RAM at guest-physical 0, and its CPU state copy."""

    def __init__(self, lib: ctypes.CDLL, regions: list[tuple[int, int, int]]) -> None:
        self.lib = lib
        handle = ctypes.c_void_p()
        _check(lib, lib.uc_open(UC_ARCH_X86, UC_MODE_64, ctypes.byref(handle)), "uc_open")
        self.handle = handle.value
        self._callbacks: list[object] = []  # ctypes thunks must outlive the engine's use
        self._context = ctypes.c_void_p()
        self._snapshot = ctypes.c_void_p()  # the CPU at an exception, before unicorn moves on
        try:
            # Stop only where told to (nowhere), not at emu_start's `until`: in 64-bit mode
            # unicorn translates `until` - 1 when emulation ends, and an address the guest's
            # page tables do not map leaves a page fault behind (measured: CR2 = that address,
            # and QEMU's pending-exception state makes the guest's next #DE a double fault)
            _check(lib, lib.uc_ctl(ctypes.c_void_p(self.handle),
                                   ctypes.c_int(UC_CTL_WRITE | UC_CTL_UC_USE_EXITS),
                                   ctypes.c_int(1)), "uc_ctl(UC_CTL_UC_USE_EXITS)")
            for address, host, size in regions:
                _check(lib, lib.uc_mem_map_ptr(self.handle, address, size, UC_PROT_ALL, host),
                       "mapping guest RAM")
            for context in (self._context, self._snapshot):
                _check(lib, lib.uc_context_alloc(self.handle, ctypes.byref(context)),
                       "uc_context_alloc")
            size = lib.uc_context_size(self.handle)
            data = (ctypes.c_char * size).from_address(self._context.value + CTX_HEADER)
            self.state = memoryview(data).cast("B")  # CPUX86State as of the last save()
            self.words = self.state[: size & ~7].cast("Q")  # the same, as uint64s (fast)
            self._u64 = ctypes.c_uint64()
            self._check_layout()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._context.value:
            self.words.release()
            self.state.release()
            self.lib.uc_context_free(self._context)
            self._context = ctypes.c_void_p()
        if self._snapshot.value:
            self.lib.uc_context_free(self._snapshot)
            self._snapshot = ctypes.c_void_p()
        if self.handle:
            self.lib.uc_close(self.handle)
            self.handle = 0

    # --- the CPU state copy ------------------------------------------------------------------
    def save(self) -> None:
        self.lib.uc_context_save(self.handle, self._context)

    def fast_save(self) -> Callable[[], object]:
        """save() as one pre-bound C call, for a hot path."""
        return functools.partial(self.lib.uc_context_save, ctypes.c_void_p(self.handle),
                                 self._context)

    def restore(self) -> None:
        self.lib.uc_context_restore(self.handle, self._context)

    def snapshot(self) -> None:
        """Keep the CPU state aside (in a hook, at an exception)."""
        self.lib.uc_context_save(self.handle, self._snapshot)

    def back_to_snapshot(self) -> None:
        """Put the kept state back: after an exception hook unicorn resumes at a stale EIP
        (QEMU's exception_next_eip) until the stop takes effect, which can change registers
        (seen: CR2 overwritten by a second page fault)."""
        self.lib.uc_context_restore(self.handle, self._snapshot)

    def u64(self, offset: int) -> int:
        return struct.unpack_from("<Q", self.state, offset)[0]

    def u32(self, offset: int) -> int:
        return struct.unpack_from("<I", self.state, offset)[0]

    def put_u64(self, offset: int, value: int) -> None:
        struct.pack_into("<Q", self.state, offset, value & 0xFFFF_FFFF_FFFF_FFFF)

    def put_u32(self, offset: int, value: int) -> None:
        struct.pack_into("<I", self.state, offset, value & 0xFFFF_FFFF)

    def segment(self, offset: int) -> tuple[int, int, int, int]:
        """(selector, base, limit, flags) of the SegmentCache at `offset`."""
        return SEGMENT.unpack_from(self.state, offset)

    def put_segment(self, offset: int, selector: int, base: int, limit: int, flags: int) -> None:
        SEGMENT.pack_into(self.state, offset, selector, base, limit, flags)

    # --- the register API, for what has side effects in QEMU (CRs flush the TLB) --------------
    def reg(self, reg_id: int) -> int:
        self.lib.uc_reg_read(self.handle, reg_id, ctypes.byref(self._u64))
        return self._u64.value

    def set_reg(self, reg_id: int, value: int) -> None:
        self._u64.value = value & 0xFFFF_FFFF_FFFF_FFFF
        _check(self.lib, self.lib.uc_reg_write(self.handle, reg_id, ctypes.byref(self._u64)),
               f"writing register {reg_id}")

    def table(self, reg_id: int) -> tuple[int, int]:
        mmr = _Mmr()
        self.lib.uc_reg_read(self.handle, reg_id, ctypes.byref(mmr))
        return mmr.base, mmr.limit

    def set_table(self, reg_id: int, base: int, limit: int, selector: int = 0,
                  flags: int = 0) -> None:
        mmr = _Mmr(selector, base, limit, flags)
        _check(self.lib, self.lib.uc_reg_write(self.handle, reg_id, ctypes.byref(mmr)),
               f"writing register {reg_id}")

    def msr(self, index: int) -> int:
        msr = _Msr(index, 0)
        self.lib.uc_reg_read(self.handle, REG_MSR, ctypes.byref(msr))
        return msr.value

    def set_msr(self, index: int, value: int) -> None:
        msr = _Msr(index, value)
        _check(self.lib, self.lib.uc_reg_write(self.handle, REG_MSR, ctypes.byref(msr)),
               f"writing MSR {index:#x}")

    def hook(self, kind: int, thunk: object, *insn: int, begin: int = 1, end: int = 0) -> int:
        """Add a hook (for every address, or for `begin`..`end` only); its handle."""
        hh = ctypes.c_size_t()
        extra = [ctypes.c_int(i) for i in insn]
        err = self.lib.uc_hook_add(ctypes.c_void_p(self.handle), ctypes.byref(hh),
                                   ctypes.c_int(kind), thunk, ctypes.c_void_p(0),
                                   ctypes.c_uint64(begin), ctypes.c_uint64(end), *extra)
        _check(self.lib, err, "uc_hook_add")
        self._callbacks.append(thunk)
        return hh.value

    def unhook(self, handle: int) -> None:
        _check(self.lib, self.lib.uc_hook_del(self.handle, handle), "uc_hook_del")

    def flush_translations(self) -> None:
        """Drop every translated block (uc_ctl UC_CTL_TB_FLUSH), e.g. before running with
        an instruction count, which only blocks translated afterwards obey."""
        self.lib.uc_ctl(ctypes.c_void_p(self.handle), ctypes.c_int(UC_CTL_WRITE | UC_CTL_TB_FLUSH))

    def strerror(self, err: int) -> str:
        return self.lib.uc_strerror(err).decode()

    def _check_layout(self) -> None:
        """The context offsets above, checked against what the register API reads and writes."""
        probes = {REGS + 8 * 3: 0x0123_4567_89AB_CDEF, EIP: 0x0FED_CBA9_8765_4321,
                  CR + 8 * 3: 0x7654_3000}
        self.set_reg(37, probes[REGS + 8 * 3])  # RBX
        self.set_reg(REG_RIP, probes[EIP])
        self.set_reg(REG_CR3, probes[CR + 8 * 3])
        self.set_reg(REG_DR0 + 3, 0x1122_3344_5566_7788)
        self.set_table(REG_GDTR, 0x12_3456_7000, 0x4567)
        self.set_msr(MSR_EFER, 0x501)
        self.save()
        probes[DR + 8 * 3] = 0x1122_3344_5566_7788
        probes[GDT + 8] = 0x12_3456_7000
        ok = all(self.u64(off) == v for off, v in probes.items())
        ok = ok and self.u32(GDT + 16) == 0x4567 and self.u64(EFER) & 0x501 == 0x501
        ok = ok and self.u32(OLD_EXCEPTION) == 0xFFFF_FFFF
        if not ok:
            raise EmulatorUnavailable("emu: this unicorn lays out its CPU state differently "
                                      "from unicorn 2.1.x; install 'unicorn>=2.1.4,<2.2'")
        self.set_reg(37, 0)
        self.set_reg(REG_CR3, 0)
        self.set_reg(REG_DR0 + 3, 0)

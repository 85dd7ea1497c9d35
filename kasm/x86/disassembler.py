"""Capstone, the disassembler built from LLVM's x86 tables, as the encoder's second opinion.

Through ctypes on the library the `capstone` wheel ships, not its Python package: importing
that imports every architecture's module (~70 ms), and kasm needs one function of one. Only
the mnemonic and the AT&T operand text are read (no `detail`, whose layout changes between
capstone versions); operands are parsed back with kasm's own reader.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os

from ..diagnostics import AsmError

_ARCH_X86 = 3
_MODES = {16: 1 << 1, 32: 1 << 2, 64: 1 << 3}
_OPT_SYNTAX, _SYNTAX_ATT = 1, 2


class _Insn(ctypes.Structure):
    _fields_ = (("id", ctypes.c_uint), ("address", ctypes.c_uint64), ("size", ctypes.c_uint16),
                ("bytes", ctypes.c_ubyte * 24), ("mnemonic", ctypes.c_char * 32),
                ("op_str", ctypes.c_char * 160), ("detail", ctypes.c_void_p))


class DisassemblerMissing(AsmError):
    """The capstone wheel (a dependency of kasm) is not installed: kasm cannot check
    keystone's bytes, so it encodes nothing through keystone."""


def _library() -> ctypes.CDLL:
    spec = importlib.util.find_spec("capstone")
    if spec is None or not spec.submodule_search_locations:
        raise DisassemblerMissing("capstone is not installed (pip install capstone)")
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, "lib", "libcapstone.so")
        if os.path.exists(path):
            lib = ctypes.CDLL(path)
            lib.cs_open.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_size_t))
            lib.cs_option.argtypes = (ctypes.c_size_t, ctypes.c_int, ctypes.c_size_t)
            lib.cs_disasm.argtypes = (ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                                      ctypes.c_uint64, ctypes.c_size_t,
                                      ctypes.POINTER(ctypes.POINTER(_Insn)))
            lib.cs_disasm.restype = ctypes.c_size_t
            lib.cs_free.argtypes = (ctypes.POINTER(_Insn), ctypes.c_size_t)
            return lib
    raise DisassemblerMissing("capstone's library is missing from its package")


class Disassembler:
    """One capstone handle per mode, opened when first asked."""

    def __init__(self) -> None:
        self._lib: ctypes.CDLL | None = None
        self._handles: dict[int, int] = {}

    def decode(self, code: bytes, bits: int) -> tuple[str, str, int] | None:
        """(mnemonic, AT&T operands, length) of the first instruction in `code`, or None
        when capstone cannot decode it."""
        handle = self._handles.get(bits)
        if handle is None:
            if self._lib is None:
                self._lib = _library()
            h = ctypes.c_size_t()
            if self._lib.cs_open(_ARCH_X86, _MODES[bits], ctypes.byref(h)) != 0:
                raise DisassemblerMissing("capstone cannot open an x86 disassembler")
            self._lib.cs_option(h.value, _OPT_SYNTAX, _SYNTAX_ATT)
            handle = self._handles[bits] = h.value
        assert self._lib is not None
        out = ctypes.POINTER(_Insn)()
        if not self._lib.cs_disasm(handle, code, len(code), 0, 1, ctypes.byref(out)):
            return None
        try:
            insn = out[0]
            return insn.mnemonic.decode(), insn.op_str.decode(), insn.size
        finally:
            self._lib.cs_free(out, 1)

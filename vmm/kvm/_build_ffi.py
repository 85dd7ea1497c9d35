"""Regenerate vmm/kvm/_ffi.py from vmm.kvm._abi.CDEF (cffi out-of-line ABI mode: no C
compiler, no C parser at run time). Run `python vmm/kvm/_build_ffi.py` after changing CDEF (by
path: importing vmm.kvm needs the generated module)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

TARGET = Path(__file__).with_name("_ffi.py")


def read_cdef() -> str:
    """CDEF without importing vmm.kvm._abi (which needs the generated module)."""
    source = Path(__file__).with_name("_abi.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "CDEF" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise RuntimeError("vmm/kvm/_abi.py has no CDEF")


def generate(path: Path = TARGET) -> None:
    from cffi import FFI

    builder = FFI()
    builder.cdef(read_cdef())
    builder.set_source("vmm.kvm._ffi", None)
    builder.emit_python_code(str(path))
    text = path.read_text()
    path.write_text("# ruff: noqa: E501\n" + text)


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET)

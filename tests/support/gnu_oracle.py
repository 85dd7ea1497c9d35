"""GNU binutils as the oracle for kasm's output: `as --32`, `ld -N -T link.ld`, `objcopy -O binary`.

Both sides read the same text: a source that needs the C preprocessor goes through kasm's own
(pcpp) preprocessor first, so any difference is the assembler's or the linker's, never cpp's.
Nothing is cached: every call runs the tools in a fresh temporary directory. The `binutils`
fixture (tests/conftest.py) skips locally, and fails under CI=true, when the tools are missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from kasm.preprocess import PACKAGE_INCLUDE, needs_preprocessing, preprocess

ROOT = Path(__file__).resolve().parents[2]
LINK_SCRIPT = ROOT / "tests" / "oracle" / "link.ld"
TOOLS = ("as", "ld", "objcopy")


class GnuRejected(Exception):
    """GNU as or ld refused the source: it does not belong in the fidelity corpus."""


def same_text(source_text: str, filename: str, include_dirs: list[Path]) -> str:
    """The text both assemblers read: kasm's preprocessor output when the source needs it."""
    if filename.endswith(".s") or not needs_preprocessing(source_text):
        return source_text
    dirs = [Path(filename).parent, *include_dirs, PACKAGE_INCLUDE]
    text, _ = preprocess(source_text, filename, dirs)
    return text


def _run(args: list[str], cwd: str) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise GnuRejected(f"{' '.join(args)}:\n{done.stderr.strip()}")


def gnu_image(source_text: str, include_dirs: list[Path] | tuple[Path, ...] = (),
              filename: str = "<string>.S") -> bytes:
    """The flat image GNU binutils make of `source_text`, laid out like kasm's linker."""
    text = same_text(source_text, filename, list(include_dirs))
    incs = [*include_dirs, PACKAGE_INCLUDE]
    if filename != "<string>.S":
        incs.insert(0, Path(filename).parent)
    # a file that ends in .code64 is GNU's 64-bit assembler's to judge (its NOP padding is
    # long-mode code; `as --32` pads 64-bit code with NOPs that clobber RSI)
    wide = _final_code_directive(text) == ".code64"
    with tempfile.TemporaryDirectory(prefix="kasm-oracle-") as tmp:
        Path(tmp, "src.s").write_text(text)
        _run(["as", "--64" if wide else "--32", *(f"-I{d}" for d in incs), "-o", "src.o",
              "src.s"], tmp)
        _run(["ld", "-m", "elf_x86_64" if wide else "elf_i386", "-N", "-T", str(LINK_SCRIPT),
              "-e", "0", "-o", "src.elf", "src.o"], tmp)
        _run(["objcopy", "-O", "binary", "-j", ".text", "-j", ".rodata", "-j", ".data",
              "src.elf", "src.bin"], tmp)
        return Path(tmp, "src.bin").read_bytes()


def _final_code_directive(text: str) -> str | None:
    found = re.findall(r"^\s*(?:[\w.$]+:\s*)*(\.code(?:16|32|64))\b", text, re.MULTILINE)
    return found[-1] if found else None


def _disassemble(data: bytes, start: int, bits: int) -> str:
    if shutil.which("objdump") is None:
        return "(objdump not installed)"
    machine = {16: "i8086", 32: "i386", 64: "i386:x86-64"}[bits]
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        done = subprocess.run(
            ["objdump", "-D", "-b", "binary", "-m", machine, f"--adjust-vma={start:#x}", f.name],
            capture_output=True, text=True, timeout=30)
    lines = [ln for ln in done.stdout.splitlines() if ln[:1] == " " and ":" in ln]
    return "\n".join(lines) or done.stderr


def describe_difference(kasm: bytes, gnu: bytes, base: int = 0x1000, bits: int = 16) -> str:
    """First differing offset, both byte runs around it, and both disassembled."""
    if kasm == gnu:
        return "identical"
    first = next((i for i, (a, b) in enumerate(zip(kasm, gnu, strict=False)) if a != b),
                 min(len(kasm), len(gnu)))
    lo = max(0, first - 8)
    hi = first + 24
    lines = [f"images differ at offset {first:#x} (address {base + first:#x}); "
             f"sizes kasm {len(kasm)} / GNU {len(gnu)} bytes",
             f"  kasm [{lo:#x}..]: {kasm[lo:hi].hex(' ')}",
             f"  GNU  [{lo:#x}..]: {gnu[lo:hi].hex(' ')}"]
    for name, data in (("kasm", kasm), ("GNU", gnu)):
        lines.append(f"--- {name} ({bits}-bit disassembly near the difference)")
        lines.append(_disassemble(data[lo:hi], base + lo, bits))
    return "\n".join(lines)

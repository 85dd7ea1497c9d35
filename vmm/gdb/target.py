"""What gdb is told the target is: an architecture and its registers (qXfer:features:read).

gdb numbers registers in the order the description lists them; 'g', 'G', 'p' and 'P' use
those numbers. The first feature is gdb's own x86 core (gdb checks its names and order); the
x87 registers it requires are listed but reported unavailable (vmm does not expose the FPU).
Control registers and EFER come in a feature of our own, which gdb shows in `info registers`.

Real mode is gdb's `i8086` (16-bit disassembly) and protected mode `i386`, over the same
32-bit register layout; long mode is `i386:x86-64` with the 64-bit layout.
"""

from __future__ import annotations

from vmm.values import Value
from vmm.vocabulary import CpuMode

CORE = "org.gnu.gdb.i386.core"
SEGMENTS = "org.gnu.gdb.i386.segments"
SYSTEM = "org.kasm.vmm.x86.system"


class Reg(Value):
    """One register as gdb sees it: `group` "float" keeps it out of `info registers`."""

    __slots__ = ("name", "bits", "type", "group", "feature")

    def __init__(self, name: str, bits: int, type: str, feature: str,  # noqa: A002
                 group: str = "") -> None:
        self.name, self.bits, self.type, self.feature, self.group = (
            name, bits, type, feature, group)

    @property
    def size(self) -> int:
        return self.bits // 8


def _x87() -> list[Reg]:
    regs = [Reg(f"st{i}", 80, "i387_ext", CORE, "float") for i in range(8)]
    regs += [Reg(n, 32, "int", CORE, "float")
             for n in ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")]
    return regs


_SEGMENT_REGS = ("cs", "ss", "ds", "es", "fs", "gs")


def _core32() -> list[Reg]:
    types = {"esp": "data_ptr", "ebp": "data_ptr"}
    regs = [Reg(n, 32, types.get(n, "int32"), CORE)
            for n in ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")]
    regs += [Reg("eip", 32, "code_ptr", CORE), Reg("eflags", 32, "i386_eflags", CORE)]
    return regs + [Reg(n, 32, "int32", CORE) for n in _SEGMENT_REGS] + _x87()


def _core64() -> list[Reg]:
    types = {"rsp": "data_ptr", "rbp": "data_ptr"}
    names = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
             *(f"r{i}" for i in range(8, 16)))
    regs = [Reg(n, 64, types.get(n, "int64"), CORE) for n in names]
    regs += [Reg("rip", 64, "code_ptr", CORE), Reg("eflags", 32, "i386_eflags", CORE)]
    regs += [Reg(n, 32, "int32", CORE) for n in _SEGMENT_REGS] + _x87()
    return regs + [Reg("fs_base", 64, "int64", SEGMENTS), Reg("gs_base", 64, "int64", SEGMENTS)]


def _system(word: int) -> list[Reg]:
    return [Reg("cr0", 32, "x86_cr0", SYSTEM), Reg("cr2", word, f"int{word}", SYSTEM),
            Reg("cr3", word, f"int{word}", SYSTEM), Reg("cr4", 32, "x86_cr4", SYSTEM),
            Reg("efer", 64, "x86_efer", SYSTEM)]


# Flag bits gdb prints by name, as in `eflags [ IF ZF ]` and `cr0 [ PG ET PE ]`.
_FLAGS = {
    "i386_eflags": (4, ("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7),
                    ("TF", 8), ("IF", 9), ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16),
                    ("VM", 17), ("AC", 18), ("VIF", 19), ("VIP", 20), ("ID", 21)),
    "x86_cr0": (4, ("PE", 0), ("MP", 1), ("EM", 2), ("TS", 3), ("ET", 4), ("NE", 5),
                ("WP", 16), ("AM", 18), ("NW", 29), ("CD", 30), ("PG", 31)),
    "x86_cr4": (4, ("VME", 0), ("PVI", 1), ("TSD", 2), ("DE", 3), ("PSE", 4), ("PAE", 5),
                ("MCE", 6), ("PGE", 7), ("PCE", 8), ("OSFXSR", 9), ("OSXMMEXCPT", 10),
                ("UMIP", 11), ("LA57", 12), ("VMXE", 13), ("SMXE", 14), ("FSGSBASE", 16),
                ("PCIDE", 17), ("OSXSAVE", 18), ("SMEP", 20), ("SMAP", 21), ("PKE", 22)),
    "x86_efer": (8, ("SCE", 0), ("LME", 8), ("LMA", 10), ("NXE", 11), ("SVME", 12),
                 ("LMSLE", 13), ("FFXSR", 14), ("TCE", 15)),
}
_FLAG_FEATURE = {"i386_eflags": CORE, "x86_cr0": SYSTEM, "x86_cr4": SYSTEM, "x86_efer": SYSTEM}


class Description:
    """A target description: gdb's architecture name, the registers in gdb's numbering, and
    the XML that says so."""

    def __init__(self, architecture: str, registers: list[Reg]) -> None:
        self.architecture = architecture
        self.registers = tuple(registers)
        self.number = {r.name: i for i, r in enumerate(self.registers)}
        self.wide = registers[0].bits == 64
        self.xml = _xml(architecture, self.registers).encode()

    def __repr__(self) -> str:
        return f"Description({self.architecture})"


def _xml(architecture: str, registers: tuple[Reg, ...]) -> str:
    lines = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
             '<target version="1.0">', f"  <architecture>{architecture}</architecture>",
             "  <osabi>none</osabi>"]
    features: list[str] = []
    for r in registers:
        if r.feature not in features:
            features.append(r.feature)
    for feature in features:
        lines.append(f'  <feature name="{feature}">')
        for type_id, (size, *fields) in _FLAGS.items():
            if _FLAG_FEATURE[type_id] == feature:
                lines.append(f'    <flags id="{type_id}" size="{size}">')
                lines += [f'      <field name="{n}" start="{b}" end="{b}"/>' for n, b in fields]
                lines.append("    </flags>")
        for r in registers:
            if r.feature == feature:
                group = f' group="{r.group}"' if r.group else ""
                lines.append(f'    <reg name="{r.name}" bitsize="{r.bits}" type="{r.type}"'
                             f"{group}/>")
        lines.append("  </feature>")
    lines.append("</target>")
    return "\n".join(lines) + "\n"


REAL = Description("i8086", _core32() + _system(32))
PROTECTED = Description("i386", _core32() + _system(32))
LONG = Description("i386:x86-64", _core64() + _system(64))


def description_for(mode: CpuMode) -> Description:
    """The description of a vCPU in `mode`: the registers and disassembly that fit it."""
    if mode is CpuMode.LONG:
        return LONG
    if mode in (CpuMode.REAL, CpuMode.PROTECTED16):
        return REAL
    return PROTECTED

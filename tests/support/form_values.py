"""Representative operands of each class of an instruction form (kasm/x86/forms.py): the
values tools/verify_forms.py assembles each form with, and the pools the differential
fuzzer draws from. A class's list spans what can change an encoding within it: registers
that need a SIB or a displacement or REX, immediates and displacements at the edges of
their size class, every base/index/scale shape, segment overrides."""

from __future__ import annotations

import re

REGISTERS = {
    "h8": ["%ah", "%bh", "%ch", "%dh"], "x8": ["%spl", "%sil", "%r8b", "%r15b"],
    "r8": ["%al", "%bl", "%cl", "%dl", "%r9b"], "r16": ["%ax", "%bx", "%sp", "%bp", "%cx",
                                                       "%dx", "%si", "%r8w", "%r12w", "%r15w"],
    "r32": ["%eax", "%ebx", "%esp", "%ebp", "%ecx", "%edx", "%edi", "%r8d", "%r13d", "%r15d"],
    "r64": ["%rax", "%rbx", "%rsp", "%rbp", "%rcx", "%rdx", "%rdi", "%r8", "%r12", "%r13",
            "%r15"],
    "eiz": ["%eiz"], "riz": ["%riz"], "st": ["%st", "%st(1)", "%st(7)", "%st(0)"],
    "cr": ["%cr0", "%cr2", "%cr3", "%cr4"], "dr": ["%dr0", "%dr3", "%dr7"],
    "tr": ["%tr6", "%tr7"], "mm": ["%mm0", "%mm5", "%mm7"], "k": ["%k1", "%k7"], "k0": ["%k0"],
}
for _v in "xyz":
    REGISTERS.update({_v: [f"%{_v}mm0", f"%{_v}mm3", f"%{_v}mm7", f"%{_v}mm8", f"%{_v}mm15"],
                      _v + "v": [f"%{_v}mm16", f"%{_v}mm31", f"%{_v}mm20"]})
IMMEDIATES = {
    "$b": ["1", "0", "2", "-1", "127", "-128", "0x55", "3"], "$B": ["128", "255", "0xaa"],
    "$w": ["-129", "-32768", "0x1234", "32767"], "$W": ["32768", "65535", "0xabcd"],
    "$l": ["-32769", "0x12345678", "-0x7fffffff"], "$L": ["0x80000000", "0xffffffff"],
    "$q": ["0x123456789", "-0x123456789", "0x7fffffffffffffff"],
}
SEGMENTS = ["%es:", "%ds:", "%ss:", "%fs:", "%gs:", "%cs:"]
_MEMORY = re.compile(r"m(16|32|64)?(p|a|v|z)?(\*)?$|ma(\*)?$")
# (base, index) of each address size: the ones that need a SIB or a displacement, REX ones
_BASES = {32: ["%eax", "%ebp", "%esp", "%ecx", "%r13d", "%r12d", "%r8d"],
          64: ["%rax", "%rbp", "%rsp", "%rcx", "%r13", "%r12", "%r8"]}
_INDEXES = {32: ["%ebx", "%esi", "%ebp", "%r9d", "%r13d"],
            64: ["%rbx", "%rsi", "%rbp", "%r9", "%r13"]}
_DISPS = ["", "0x7f", "-0x80", "0x12345678", "0", "1", "-0x81", "0x80", "-0x12345678", "8"]


def memory_samples(cls: str, bits: int) -> list[str]:
    """Memory operands of a class: base alone, base and index, index alone, each scale,
    displacements none, zero, 8-bit and 32-bit (16-bit), some with a segment override."""
    m = _MEMORY.match(cls)
    if m is None:
        return []
    if cls.startswith("ma"):
        star = "*" if cls.endswith("*") else ""
        return [star + a for a in ("0x10", "0x1234", "%es:0x20", "0xfffe" if bits == 16
                                   else "0x12345678")]
    aw, kind, star = m.group(1), m.group(2), "*" if m.group(3) else ""
    if kind == "v" or aw is None:
        return []
    width = int(aw)
    if kind == "p":
        rip = "%rip" if width == 64 else "%eip"
        return [f"{star}{d}({rip})" for d in ("", "0x10", "-0x80", "0x12345678")]
    if width == 16:
        regs = ["(%bx)", "(%bp)", "(%si)", "(%bx,%si)", "(%bp,%di)", "(%di)", "(%bx,%di)",
                "(%bp,%si)"]
        disps = ["", "0x7f", "-0x80", "0x1234", "0", "1", "-0x81", "0x7fff"]
    else:
        bases = [b for b in _BASES[width] if _exists(b, bits)]
        indexes = ["%eiz" if width == 32 else "%riz"] if kind == "z" else \
            [x for x in _INDEXES[width] if _exists(x, bits)]
        if not bases or not indexes:  # a 64-bit address outside 64-bit code
            return []
        scales = ["", ",2", ",4", ",8"]
        regs = []
        for k in range(10):
            shape = k % 3 if kind != "z" else 1
            base, index, scale = bases[k % len(bases)], indexes[k % len(indexes)], scales[k % 4]
            regs.append(f"({base})" if shape == 0 else f"({base},{index}{scale})" if shape == 1
                        else f"(,{index}{scale})")
        disps = _DISPS
    out = []
    for k in range(10):
        disp, reg = disps[k % len(disps)], regs[k % len(regs)]
        if reg.startswith("(,") and not disp:
            disp = "0x10"
        segment = SEGMENTS[k % 6] if k % 4 == 3 else ""
        out.append(f"{star}{segment}{disp}{reg}")
    return list(dict.fromkeys(out))


def _exists(reg: str, bits: int) -> bool:
    """Whether a register can be named in `bits`-bit code (%r8-%r15, REX bytes: only 64)."""
    return bits == 64 or not (reg[2:3].isdigit() or reg in ("%spl", "%bpl", "%sil", "%dil")
                              or reg[:2] == "%r" and reg[2:3].isalpha() and len(reg) == 4
                              or reg[1:4] in ("xmm", "ymm", "zmm") and int(reg[4:]) > 7)


def samples(cls: str, bits: int) -> list[str]:
    star = "*" if cls.startswith("*") and not cls.startswith("m") else ""
    plain = cls.lstrip("*")
    if plain in REGISTERS:
        return [star + r for r in REGISTERS[plain] if _exists(r, bits)]
    if plain in IMMEDIATES:
        return ["$" + v for v in IMMEDIATES[plain]]
    if plain.startswith(("%", "eip", "rip")) or plain in ("cs", "ds", "es", "fs", "gs", "ss"):
        return [star + "%" + plain]
    if plain.startswith("m"):
        return memory_samples(plain, bits)
    if plain == "(dx)":
        return ["(%dx)"]
    return []


# ------------------------------------------------------------------ random values of a class
_IMMEDIATE_RANGES = {"$b": (-128, 127), "$B": (128, 255), "$w": (-32768, -129),
                     "$W": (256, 65535), "$l": (-(1 << 31), -32769), "$L": (65536, (1 << 32) - 1),
                     "$q": (1 << 32, (1 << 63) - 1)}


_SAMPLE = re.compile(r"^(\*?(?:%[cdefgs]s:)?)(-?(?:0x)?[0-9a-f]*)(\(.*\))$")
_NOT_BELOW_64 = ("x8", "xv", "yv", "zv", "rip", "riz", "r64")


def class_members(cls: str, bits: int) -> list[str]:
    """Every register of a register class that exists in `bits`-bit code."""
    from kasm.instruction import REGISTERS as ALL
    from kasm.x86.forms import register_class

    if bits != 64 and cls in _NOT_BELOW_64:
        return []
    return sorted(r for r in ALL if register_class(r) == cls and _exists(r, bits))


def random_operand(cls: str, bits: int, choice, integer) -> str:  # noqa: ANN001 - draw functions
    """An operand of class `cls` with random values in it: `choice(list)` picks one of a list,
    `integer(lo, hi)` a number (the fuzzer passes hypothesis draws)."""
    star = "*" if cls.startswith("*") and not cls.startswith("m") else ""
    plain = cls.lstrip("*")
    if plain in _IMMEDIATE_RANGES:
        lo, hi = _IMMEDIATE_RANGES[plain]
        value = integer(lo, hi)
        return f"${value}" if choice((0, 1)) else f"${'-' if value < 0 else ''}0x{abs(value):x}"
    if plain in REGISTERS:
        return star + choice(class_members(plain, bits) or REGISTERS[plain])
    text = choice(memory_samples(plain, bits) or samples(cls, bits) or [""])
    parts = _SAMPLE.match(text)
    if parts is None or not parts.group(2) or "(%" not in text or "%rip" in text:
        return text
    small = parts.group(2) in ("0x7f", "-0x80", "1", "8")
    lo, hi = (-128, 127) if small else (-32768, 32767) if "(%b" in text or "(%s" in text \
        or "(%d" in text else (-(1 << 31), (1 << 31) - 1)
    value = integer(lo, hi)
    return f"{parts.group(1)}{value}{parts.group(3)}"

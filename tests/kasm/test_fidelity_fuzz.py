"""Differential fuzzing: random valid AT&T programs must assemble to GNU's exact bytes.

Two kinds of program, in 16-, 32- and 64-bit code:
- "classic": a grammar of the instructions real guest programs use (moves, arithmetic, shifts,
  stack, string ops with prefixes, port I/O, branches near and far with alignments and fills
  between them and their targets, system instructions, every addressing form of each mode,
  label operands and data with label expressions). kasm must accept every one GNU accepts.
- "wide": lines drawn from the whole x86 table as kasm's table of verified forms holds it
  (kasm/x86/verified_forms.txt: SSE, AVX, AVX2, AVX-512, x87, system, ... every form
  tools/verify_forms.py found in the opcode space and verified), each with random registers
  of its class, random immediates and displacements of its size class, every base/index/
  scale shape, among classic lines. kasm may refuse a line ("not supported"), never write
  other bytes.
kasm builds each program; GNU binutils (tests/support/gnu_oracle.py) build the same text.
Programs GNU rejects are discarded; for the rest the flat images must be identical.

FIDELITY_EXAMPLES sets the number of examples (500 by default: about 10-20 s in CI; `make
fuzz` runs 5,000); FIDELITY_SEED=<n> explores a different part of the space than the
derandomized default.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from form_values import random_operand
from gnu_oracle import GnuRejected, describe_difference, gnu_image
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from kasm.build import build_source
from kasm.diagnostics import SourceError
from kasm.x86.forms import TABLE

EXAMPLES = int(os.environ.get("FIDELITY_EXAMPLES", "500"))
SEED = os.environ.get("FIDELITY_SEED")

CODE_LABELS = ("L0", "L1", "L2", "L3")
DATA_LABELS = ("D0", "D1", "R0", "table")
LABELS = CODE_LABELS + DATA_LABELS
# `L0-L0` before L0 is defined is 0 to GNU at once, a link-time value to kasm (expr.py),
# which then gives it a full-width field: not generated (reported)
DIFFERENCE_LABELS = ("L1", "L2", "L3")

# ---------------------------------------------------------------- registers
REG8 = ["%al", "%cl", "%dl", "%bl", "%ah", "%ch", "%dh", "%bh"]
REG16 = ["%ax", "%cx", "%dx", "%bx", "%sp", "%bp", "%si", "%di"]
REG32 = ["%eax", "%ecx", "%edx", "%ebx", "%esp", "%ebp", "%esi", "%edi"]
REG64 = ["%rax", "%rcx", "%rdx", "%rbx", "%rsp", "%rbp", "%rsi", "%rdi"]
EXT = [f"%r{i}" for i in range(8, 16)]
REX8 = ["%spl", "%bpl", "%sil", "%dil"] + [f"%r{i}b" for i in range(8, 16)]


def regs(width: int, bits: int) -> list[str]:
    """General registers of `width` bits that exist in `bits`-bit code."""
    base = {8: REG8, 16: REG16, 32: REG32, 64: REG64}[width]
    if bits != 64:
        return base if width != 64 else []
    extra = {8: REX8, 16: [r + "w" for r in EXT], 32: [r + "d" for r in EXT], 64: EXT}[width]
    return base + extra


def widths(bits: int) -> list[int]:
    return [8, 16, 32, 64] if bits == 64 else [8, 16, 32]


SUFFIX = {8: "b", 16: "w", 32: "l", 64: "q"}
SEGS = ["%es", "%cs", "%ss", "%ds", "%fs", "%gs"]

# ---------------------------------------------------------------- numbers
BOUNDARY = [0, 1, 2, 3, 7, 8, 15, 16, 127, 128, 255, 256, 1000, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
            0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000, 0x123456789, 0x7FFFFFFFFFFFFFFF,
            0xFFFFFFFFFFFFFFFF]


def number_text(draw, values: list[int] | None = None, negative: bool = True) -> str:
    """A number as a program writes one: decimal, hex, negative, a character, an expression."""
    v = draw(st.sampled_from(values or BOUNDARY) | st.integers(0, 300))
    if negative and draw(st.booleans()) and v:
        v = -v
    form = draw(st.sampled_from(["dec", "hex", "hex", "HEX", "expr"]))
    if form == "expr" and 0 <= v < 0x10000:
        a = draw(st.integers(0, v))
        return f"{a}+{v - a}" if draw(st.booleans()) else f"({v}*1)"
    if v < 0:
        return "-" + number_text_abs(-v, form)
    return number_text_abs(v, form)


def number_text_abs(v: int, form: str) -> str:
    if form == "hex":
        return f"0x{v:x}"
    if form == "HEX":
        return f"0X{v:X}"
    return str(v)


def fits(width: int) -> list[int]:
    """Boundary values that fit an immediate of `width` bits (signed or unsigned)."""
    return [v for v in BOUNDARY if v < (1 << width)] or [0]


@st.composite
def immediate(draw, width: int = 32, labels: bool = True) -> str:
    """`$n`, mostly in range for `width`, sometimes a label expression."""
    if labels and width >= 16 and draw(st.integers(0, 5)) == 0:
        lab = draw(st.sampled_from(LABELS))
        other = draw(st.sampled_from(DIFFERENCE_LABELS))
        return draw(st.sampled_from([f"${lab}", f"${lab}+4", f"$({other}-L0)", "$L1-L0"]))
    pool = fits(width) if draw(st.integers(0, 7)) else BOUNDARY
    return "$" + number_text(draw, pool)


# ---------------------------------------------------------------- memory operands
@st.composite
def displacement(draw, width: int) -> str:
    """An empty, numeric or label displacement for a base/index memory operand."""
    kind = draw(st.sampled_from(["none", "none", "small", "big", "label", "neg"]))
    if kind == "none":
        return ""
    if kind == "small":
        return number_text(draw, [0, 1, 4, 8, 0x7F, 0x80, 100], negative=False)
    if kind == "neg":
        return number_text(draw, [1, 2, 0x80, 0x81, 20], negative=False).join(["-", ""])
    if kind == "big":
        return number_text(draw, [0x100, 0x1234, 0x7FFF, 0x8000 if width == 16 else 0x12345678],
                           negative=False)
    lab = draw(st.sampled_from(LABELS))
    other = draw(st.sampled_from(DIFFERENCE_LABELS))
    return draw(st.sampled_from([lab, f"{lab}+2", f"{other}-L0" if width == 16 else lab]))


@st.composite
def memory(draw, bits: int) -> str:
    """A memory operand in one of the addressing forms of `bits`-bit code."""
    seg = draw(st.sampled_from([""] * 8 + [s + ":" for s in SEGS]))
    if bits != 64 and seg == "%cs:" and draw(st.booleans()):
        seg = ""
    form = draw(st.sampled_from(["abs", "base", "base", "base", "other"]))
    if form == "abs":
        if draw(st.booleans()):
            addr = draw(st.sampled_from(LABELS))
            addr = draw(st.sampled_from([addr, f"{addr}+2", f"{addr}+1000"]))
        else:
            addr = number_text(draw, [0, 0x10, 0x7C00, 0xB8000, 1234], negative=False)
        if bits == 64 and draw(st.booleans()):
            return f"{seg}{addr}(%rip)"
        return seg + addr
    addr_bits = bits
    if form == "other":  # the other address size (an 0x67 prefix)
        addr_bits = {16: 32, 32: 16, 64: 32}[bits]
    disp = draw(displacement(addr_bits))
    if addr_bits == 16:
        bi = draw(st.sampled_from(["(%bx)", "(%si)", "(%di)", "(%bp)", "(%bx,%si)", "(%bx,%di)",
                                   "(%bp,%si)", "(%bp,%di)", "(%si,%bx)"]))
        return f"{seg}{disp}{bi}"
    base_pool = REG32 if addr_bits == 32 else REG64 + EXT
    if addr_bits == 32 and bits == 64:
        base_pool = REG32 + [r + "d" for r in EXT]
    index_pool = [r for r in base_pool if r not in ("%esp", "%rsp")]
    base = draw(st.sampled_from(base_pool + [""]))
    shape = draw(st.sampled_from(["base", "index", "index"])) if base else "index"
    if shape == "base":
        return f"{seg}{disp}({base})"
    index = draw(st.sampled_from(index_pool))
    scale = draw(st.sampled_from(["", ",1", ",2", ",4", ",8"]))
    if not base and not disp:
        disp = "0"
    return f"{seg}{disp}({base},{index}{scale})"


# ---------------------------------------------------------------- instructions
ALU = ["add", "sub", "adc", "sbb", "and", "or", "xor", "cmp"]
UNARY = ["inc", "dec", "neg", "not", "mul", "div", "idiv", "imul"]
SHIFTS = ["rol", "ror", "rcl", "rcr", "shl", "sal", "shr", "sar"]
CC = ["o", "no", "b", "c", "nae", "nb", "nc", "ae", "e", "z", "ne", "nz", "be", "na", "a",
      "nbe", "s", "ns", "p", "pe", "np", "po", "l", "nge", "ge", "nl", "le", "ng", "g", "nle"]
SIMPLE = ["cli", "sti", "hlt", "nop", "clc", "stc", "cmc", "cld", "std", "cpuid", "rdmsr",
          "wrmsr", "rdtsc", "pushf", "popf", "lahf", "sahf", "cbw", "cwd", "cwde", "cdq",
          "cwtl", "cltd", "leave", "int3", "iret", "ret", "lret", "wbinvd", "clts", "ud2",
          "pause", "xlat", "into", "pusha", "popa", "pushaw", "pushal", "popaw", "popal",
          "pushfw", "pushfl", "popfw", "popfl", "iretw", "iretl", "cltq", "cqto", "cdqe",
          "cqo", "pushfq", "popfq", "iretq", "lretq", "lretw", "lretl", "retw", "retl",
          "retq", "swapgs", "sysret", "syscall", "invd"]
STRING = ["movs", "stos", "lods", "cmps", "scas", "ins", "outs"]


def sized(draw, name: str, width: int) -> str:
    """`name` with its size suffix, or (sometimes) without one."""
    return name + (SUFFIX[width] if draw(st.integers(0, 2)) else "")


@st.composite
def alu(draw, bits: int) -> str:
    name = draw(st.sampled_from(ALU + ["test", "mov"]))
    w = draw(st.sampled_from(widths(bits)))
    r = regs(w, bits)
    mnem = sized(draw, name, w)
    shape = draw(st.sampled_from(["rr", "ir", "im", "mr", "rm", "ia"]))
    if shape == "rr":
        return f"{mnem} {draw(st.sampled_from(r))}, {draw(st.sampled_from(r))}"
    if shape == "ia":  # the accumulator forms
        acc = {8: "%al", 16: "%ax", 32: "%eax", 64: "%rax"}[w]
        return f"{mnem} {draw(immediate(w))}, {acc}"
    if shape == "ir":
        return f"{mnem} {draw(immediate(w))}, {draw(st.sampled_from(r))}"
    if shape == "im":
        return f"{name}{SUFFIX[w]} {draw(immediate(w))}, {draw(memory(bits))}"
    if shape == "mr":
        return f"{mnem} {draw(memory(bits))}, {draw(st.sampled_from(r))}"
    return f"{mnem} {draw(st.sampled_from(r))}, {draw(memory(bits))}"


@st.composite
def movabs(draw, bits: int) -> str:
    r = draw(st.sampled_from(regs(64, 64)))
    v = draw(immediate(64))
    return draw(st.sampled_from([f"movabs {v}, {r}", f"movq {v}, {r}", f"mov {v}, {r}",
                                 "movabs D0, %rax", "movabs %eax, R0", f"movl {v}, %eax"]))


@st.composite
def extend(draw, bits: int) -> str:
    kind = draw(st.sampled_from(["z", "s"]))
    src, dst = draw(st.sampled_from(
        [(8, 16), (8, 32), (16, 32)] + ([(8, 64), (16, 64), (32, 64)] if bits == 64 else [])))
    if kind == "z" and src == 32:
        kind = "s"
    mnem = draw(st.sampled_from([f"mov{kind}{SUFFIX[src]}{SUFFIX[dst]}", f"mov{kind}x",
                                 f"mov{kind}{SUFFIX[src]}"]))
    if mnem == "movsx" and src == 32:
        mnem = "movslq"
    operand = draw(st.sampled_from(regs(src, bits))) if draw(st.booleans()) else draw(
        memory(bits))
    return f"{mnem} {operand}, {draw(st.sampled_from(regs(dst, bits)))}"


@st.composite
def unary(draw, bits: int) -> str:
    name = draw(st.sampled_from(UNARY))
    w = draw(st.sampled_from(widths(bits)))
    if draw(st.booleans()):
        return f"{sized(draw, name, w)} {draw(st.sampled_from(regs(w, bits)))}"
    return f"{name}{SUFFIX[w]} {draw(memory(bits))}"


@st.composite
def imul(draw, bits: int) -> str:
    w = draw(st.sampled_from([16, 32, 64] if bits == 64 else [16, 32]))
    r = regs(w, bits)
    mnem = sized(draw, "imul", w)
    src = draw(st.sampled_from(r)) if draw(st.booleans()) else draw(memory(bits))
    if draw(st.booleans()):
        return f"{mnem} {src}, {draw(st.sampled_from(r))}"
    return f"{mnem} {draw(immediate(w))}, {src}, {draw(st.sampled_from(r))}"


@st.composite
def shift(draw, bits: int) -> str:
    name = draw(st.sampled_from(SHIFTS))
    w = draw(st.sampled_from(widths(bits)))
    dst = draw(st.sampled_from(regs(w, bits))) if draw(st.booleans()) else draw(memory(bits))
    mnem = sized(draw, name, w) if dst.startswith("%") else name + SUFFIX[w]
    count = draw(st.sampled_from(["", "$1, ", "%cl, ", "$0, ", "$2, ", "$7, ", "$31, ",
                                  "$0x10, ", "$255, "]))
    return f"{mnem} {count}{dst}"


@st.composite
def double_shift(draw, bits: int) -> str:
    w = draw(st.sampled_from([16, 32]))
    r = regs(w, bits)
    name = sized(draw, draw(st.sampled_from(["shld", "shrd"])), w)
    dst = draw(st.sampled_from(r)) if draw(st.booleans()) else draw(memory(bits))
    count = draw(st.sampled_from(["$4, ", "%cl, ", "$1, "]))
    return f"{name} {count}{draw(st.sampled_from(r))}, {dst}"


@st.composite
def stack(draw, bits: int) -> str:
    name = draw(st.sampled_from(["push", "pop"]))
    stack_widths = [16, 64] if bits == 64 else [16, 32]
    w = draw(st.sampled_from(stack_widths))
    kind = draw(st.sampled_from(["reg", "reg", "imm", "mem", "seg"]))
    if kind == "reg":
        return f"{sized(draw, name, w)} {draw(st.sampled_from(regs(w, bits)))}"
    if kind == "imm":
        imm_w = draw(st.sampled_from([8, 16, 32]))
        mnem = draw(st.sampled_from(["push", f"push{SUFFIX[w]}"]))
        return f"{mnem} {draw(immediate(imm_w))}"
    if kind == "mem":
        return f"{name}{SUFFIX[w]} {draw(memory(bits))}"
    segs = ["%fs", "%gs"] if bits == 64 else SEGS
    seg = draw(st.sampled_from(segs))
    if name == "pop" and seg == "%cs":
        seg = "%ds"
    return f"{sized(draw, name, w)} {seg}"


@st.composite
def lea_xchg(draw, bits: int) -> str:
    w = draw(st.sampled_from([16, 32, 64] if bits == 64 else [16, 32]))
    r = regs(w, bits)
    if draw(st.booleans()):
        return f"{sized(draw, 'lea', w)} {draw(memory(bits))}, {draw(st.sampled_from(r))}"
    w = draw(st.sampled_from(widths(bits)))
    r = regs(w, bits)
    a = draw(st.sampled_from(r))
    b = draw(st.sampled_from(r)) if draw(st.booleans()) else draw(memory(bits))
    if draw(st.booleans()):
        a, b = b, a
    return f"{sized(draw, 'xchg', w)} {a}, {b}"


@st.composite
def condition(draw, bits: int) -> str:
    cc = draw(st.sampled_from(CC))
    if draw(st.booleans()):
        dst = draw(st.sampled_from(regs(8, bits))) if draw(st.booleans()) else draw(memory(bits))
        return f"set{cc} {dst}"
    w = draw(st.sampled_from([16, 32, 64] if bits == 64 else [16, 32]))
    r = regs(w, bits)
    src = draw(st.sampled_from(r)) if draw(st.booleans()) else draw(memory(bits))
    return f"{sized(draw, 'cmov' + cc, w)} {src}, {draw(st.sampled_from(r))}"


@st.composite
def bit_test(draw, bits: int) -> str:
    name = draw(st.sampled_from(["bt", "bts", "btr", "btc", "bsf", "bsr"]))
    w = draw(st.sampled_from([16, 32, 64] if bits == 64 else [16, 32]))
    r = regs(w, bits)
    dst = draw(st.sampled_from(r)) if draw(st.booleans()) else draw(memory(bits))
    mnem = sized(draw, name, w) if dst.startswith("%") else name + SUFFIX[w]
    if name.startswith("bs"):
        return f"{mnem} {dst}, {draw(st.sampled_from(r))}"
    src = draw(st.sampled_from(r)) if draw(st.booleans()) else "$" + number_text(
        draw, [0, 1, 7, 15, 31, 63], negative=False)
    return f"{mnem} {src}, {dst}"


@st.composite
def string_op(draw, bits: int) -> str:
    name = draw(st.sampled_from(STRING))
    w = draw(st.sampled_from([8, 16, 32, 64] if bits == 64 and name not in ("ins", "outs")
                             else [8, 16, 32]))
    prefix = draw(st.sampled_from(["", "", "rep ", "repe ", "repne ", "repz ", "repnz ",
                                   "es ", "fs ", "rep es ", "addr32 "]))
    if draw(st.integers(0, 4)) == 0 and name in ("movs", "lods", "stos"):
        si, di = {16: ("%si", "%di"), 32: ("%esi", "%edi"), 64: ("%rsi", "%rdi")}[bits]
        src = f"{draw(st.sampled_from(['', '%es:', '%fs:']))}({si})"
        ops = {"movs": f" {src}, %es:({di})", "lods": f" {src}",
               "stos": f" %es:({di})"}[name]
        return f"{prefix}{name}{SUFFIX[w]}{ops}"
    return f"{prefix}{name}{SUFFIX[w]}"


@st.composite
def port_io(draw, bits: int) -> str:
    w = draw(st.sampled_from([8, 16, 32]))
    acc = {8: "%al", 16: "%ax", 32: "%eax"}[w]
    port = draw(st.sampled_from(["%dx", "(%dx)", "$0x60", "$0x80", "$255", "$0", "$16"]))
    mnem = draw(st.sampled_from(["", SUFFIX[w]]))
    if draw(st.booleans()):
        return f"in{mnem} {port}, {acc}" if draw(st.integers(0, 3)) else f"in{SUFFIX[w]} {port}"
    return f"out{mnem} {acc}, {port}" if draw(st.integers(0, 3)) else f"out{SUFFIX[w]} {port}"


@st.composite
def branch(draw, bits: int) -> str:
    target = draw(st.sampled_from(CODE_LABELS + ("1f", "1b", ".", ".+2")))
    kind = draw(st.sampled_from(["jmp", "call", "jcc", "jcc", "loop", "sized"]))
    if kind == "jcc":
        return f"j{draw(st.sampled_from(CC))} {target}"
    if kind == "loop":
        name = draw(st.sampled_from(["loop", "loope", "loopne", "loopz", "loopnz",
                                     {16: "jcxz", 32: "jecxz", 64: "jrcxz"}[bits]]))
        return f"{name} {target}"
    if kind == "sized":
        sizes = ["q"] if bits == 64 else ["w", "l"]
        return f"{draw(st.sampled_from(['jmp', 'call']))}{draw(st.sampled_from(sizes))} {target}"
    return f"{kind} {target}"


@st.composite
def indirect(draw, bits: int) -> str:
    name = draw(st.sampled_from(["jmp", "call"]))
    kind = draw(st.sampled_from(["reg", "mem", "table", "far"]))
    if kind == "reg":
        w = 64 if bits == 64 else draw(st.sampled_from([16, 32]))
        return f"{name} *{draw(st.sampled_from(regs(w, bits)))}"
    if kind == "table":
        if bits == 16:
            return f"{name} *table(%bx)"
        if bits == 64:
            return f"{name} *table(,%rbx,8)"
        return f"{name} *table(,%ebx,4)"
    if kind == "far":
        return f"l{name} *{draw(memory(bits))}"
    size = draw(st.sampled_from(["", "q"] if bits == 64 else ["", "w", "l"]))
    return f"{name}{size} *{draw(memory(bits))}"


@st.composite
def far(draw, bits: int) -> str:
    name = draw(st.sampled_from(["ljmp", "lcall"]))
    sel = draw(st.sampled_from(["$0", "$8", "$0x10", "$0x18"]))
    off = draw(st.sampled_from(["$L0", "$L2", "$0x1234", "$L1+4"]))
    size = draw(st.sampled_from(["", "", "w", "l"]))
    return f"{name}{size} {sel}, {off}"


@st.composite
def control(draw, bits: int) -> str:
    kind = draw(st.sampled_from(["int", "ret", "lret", "enter", "simple", "simple", "simple"]))
    if kind == "int":
        return "int $" + number_text(draw, [0, 1, 3, 0x10, 0x13, 0x80, 255], negative=False)
    if kind in ("ret", "lret"):
        size = draw(st.sampled_from(["", "w", "l"] if bits != 64 else ["", "q", "w"]))
        return f"{kind}{size} $" + number_text(draw, [0, 2, 4, 8, 0x100, 0xFFFF], negative=False)
    if kind == "enter":
        return f"enter ${draw(st.sampled_from(['0', '16', '0x100']))}, $0"
    return draw(st.sampled_from(SIMPLE))


@st.composite
def system(draw, bits: int) -> str:
    gpr = {16: REG32, 32: REG32, 64: REG64}[bits]
    kind = draw(st.sampled_from(["table", "ltr", "cr", "seg", "seg", "misc"]))
    if kind == "table":
        name = draw(st.sampled_from(["lgdt", "lidt", "sgdt", "sidt"]))
        size = draw(st.sampled_from(["", "w", "l"] if bits != 64 else ["", "q"]))
        return f"{name}{size} {draw(memory(bits))}"
    if kind == "ltr":
        name = draw(st.sampled_from(["ltr", "lldt", "str", "sldt", "lmsw", "smsw", "verr"]))
        return f"{name} {draw(st.sampled_from(['%ax', '%bx', '%dx']))}" if draw(
            st.booleans()) else f"{name} {draw(memory(bits))}"
    if kind == "cr":
        reg = draw(st.sampled_from(["%cr0", "%cr2", "%cr3", "%cr4", "%dr0", "%dr7"]))
        r = draw(st.sampled_from(gpr))
        mnem = draw(st.sampled_from(["mov", "mov", "movl" if bits != 64 else "movq"]))
        return f"{mnem} {reg}, {r}" if draw(st.booleans()) else f"{mnem} {r}, {reg}"
    if kind == "seg":
        seg = draw(st.sampled_from(SEGS))
        if draw(st.booleans()):
            other = draw(st.sampled_from(regs(16, bits) + regs(32, bits)))
        else:
            other = draw(memory(bits))
        mnem = draw(st.sampled_from(["mov", "mov", "movw", "movl"]))
        if seg == "%cs" or draw(st.booleans()):
            return f"{mnem} {seg}, {other}"
        return f"{mnem} {other}, {seg}"
    return draw(st.sampled_from([f"invlpg {draw(memory(bits))}", "cpuid", "rdmsr", "wrmsr",
                                 "lock incl (%ebx)" if bits != 16 else "lock incw (%bx)",
                                 f"lock addl $1, {draw(memory(bits))}",
                                 f"lock cmpxchgl %ecx, {draw(memory(bits))}",
                                 f"lock xaddw %ax, {draw(memory(bits))}",
                                 f"bswap {draw(st.sampled_from(regs(32, bits)))}"]))


@st.composite
def data_line(draw, bits: int) -> str:
    kind = draw(st.sampled_from([".byte", ".word", ".long", ".quad", ".short", ".int"]))
    width = {".byte": 8, ".word": 16, ".short": 16, ".long": 32, ".int": 32, ".quad": 64}[kind]
    items = []
    for _ in range(draw(st.integers(1, 3))):
        if width >= 16 and draw(st.integers(0, 2)) == 0:
            lab = draw(st.sampled_from(LABELS))
            items.append(draw(st.sampled_from([lab, f"{lab}+1", f"{lab}-L0", f"L3-{lab}"])))
        else:
            items.append(number_text(draw, fits(width), negative=width > 8))
    return f"{kind} {', '.join(items)}"


@st.composite
def align(draw, bits: int) -> str:
    n = draw(st.sampled_from(["2", "4", "8", "16", "32"]))
    skip = draw(st.sampled_from(["1", "3", "7", "10", "15"]))
    nops = draw(st.sampled_from(["1", "7", "10", "30"]))
    return draw(st.sampled_from([f".align {n}", f".balign {n}", ".p2align 3",
                                 f".balign {n}, 0x90", f".align {n}, 0xcc", f".p2align 4,,{skip}",
                                 f".balign {n},,{skip}", f".p2align 5, 0x90, {skip}",
                                 f".nops {nops}", f".nops {nops}, 2"]))


@st.composite
def filler(draw, bits: int) -> str:
    """Distance between a branch and its target: rel8 or not."""
    n = draw(st.sampled_from([1, 100, 120, 125, 126, 127, 128, 129, 130, 200, 300]))
    return draw(st.sampled_from([f".fill {n}, 1, 0x90", f".skip {n}, 0x90", f".org . + {n}"]))


GENERATORS = {
    "alu": (alu, 6), "movabs": (movabs, 1), "extend": (extend, 2), "unary": (unary, 2),
    "imul": (imul, 1), "shift": (shift, 2), "double_shift": (double_shift, 1),
    "stack": (stack, 2), "lea_xchg": (lea_xchg, 2), "condition": (condition, 2),
    "bit_test": (bit_test, 1), "string": (string_op, 2), "port_io": (port_io, 1),
    "branch": (branch, 4), "indirect": (indirect, 2), "far": (far, 1), "control": (control, 2),
    "system": (system, 2), "data": (data_line, 1), "align": (align, 1), "filler": (filler, 1),
}


def _table_forms() -> dict[int, list[str]]:
    forms: dict[int, list[str]] = {16: [], 32: [], 64: []}
    for form in filter(None, Path(TABLE).read_text().split("\n")):
        forms[int(form.split("|", 1)[0])].append(form)
    return forms


TABLE_FORMS = _table_forms()


@st.composite
def table_form(draw, bits: int) -> str:
    """A line of a verified form, with random values of each operand's class."""
    _, prefixes, mnemonic, classes = draw(st.sampled_from(TABLE_FORMS[bits])).split("|")
    ops = [random_operand(c, bits, lambda seq: draw(st.sampled_from(list(seq))),
                          lambda lo, hi: draw(st.integers(lo, hi)))
           for c in classes.split(",")] if classes else []
    return " ".join(filter(None, (prefixes, mnemonic, ", ".join(ops))))


def line(bits: int) -> st.SearchStrategy[str]:
    pool = []
    for name, (make, weight) in GENERATORS.items():
        if name == "movabs" and bits != 64:
            continue
        if name == "far" and bits == 64:
            continue
        pool += [make(bits)] * weight
    return st.one_of(pool)


@st.composite
def program(draw) -> tuple[int, str, bool]:
    """A whole source: code with labels L0-L3 and `1:` among it, then .rodata and .data;
    and whether it is a wide one (lines from the whole table among the classic ones)."""
    bits = draw(st.sampled_from([16, 32, 64]))
    wide = draw(st.booleans())
    pool = st.one_of(line(bits), table_form(bits), table_form(bits)) if wide else line(bits)
    body = draw(st.lists(pool, min_size=1, max_size=12))
    # each code label once, at a random place (branches go forward and backward)
    for name in ("1", *CODE_LABELS):
        body.insert(draw(st.integers(0, len(body))), f"{name}:")
    body.insert(0, "1:")  # `1b` is always defined
    body.append("1:")  # and so is `1f`
    data = [".section .rodata", "R0: .long L0, 0x12345678", "table: .word L1, L2, L3",
            ".data", "D0: .word 0x1234", draw(data_line(bits)), "D1: .byte 1, 2",
            draw(data_line(bits))]
    weak = [".weak L2"] if draw(st.integers(0, 5)) == 0 else []  # branches to it stay long
    lines = [f".code{bits}", ".text", *weak, "_start:", "hlt", *body, *data]
    return bits, "".join(f"    {ln}\n" if not ln.endswith(":") else f"{ln}\n" for ln in lines), \
        wide


def first_differing_line(text: str, bits: int, kasm: bytes, gnu: bytes) -> str:
    """The source line of .text whose bytes hold the first difference, by GNU's listing."""
    first = next((i for i, (a, b) in enumerate(zip(kasm, gnu, strict=False)) if a != b),
                 min(len(kasm), len(gnu)))
    with tempfile.TemporaryDirectory(prefix="kasm-fuzz-") as tmp:
        Path(tmp, "src.s").write_text(text)
        done = subprocess.run(["as", "--64" if bits == 64 else "--32", "-al", "-o",
                               str(Path(tmp, "src.o")), str(Path(tmp, "src.s"))],
                              capture_output=True, text=True, timeout=30)
    lines = text.splitlines()
    found = "(in data after .text)"
    for m in re.finditer(r"^\s*(\d+) ([0-9A-F]{4}) [0-9A-F]+", done.stdout, re.MULTILINE):
        number, address = int(m.group(1)), int(m.group(2), 16)
        if any(ln.strip().startswith((".section", ".data")) for ln in lines[:number]):
            break
        if address > first:
            break
        found = f"line {number}: {lines[number - 1].strip()}"
    return found


COUNTS = {"compared": 0, "refused": 0, "gnu_rejected": 0}


def check(bits: int, text: str, wide: bool = False) -> None:
    try:
        gnu = gnu_image(text)
    except GnuRejected:
        COUNTS["gnu_rejected"] += 1
        return
    try:
        result = build_source(text, "fuzz.S")
    except SourceError as e:
        if wide and "not supported" in str(e):
            COUNTS["refused"] += 1  # a refusal, never other bytes: the principle holds
            return
        pytest.fail(f"GNU accepts this {bits}-bit program, kasm rejects it:\n{text}\n{e}",
                    pytrace=False)
    kasm = result.image.flat()
    COUNTS["compared"] += 1
    if kasm != gnu:
        pytest.fail(f"{bits}-bit program assembles differently:\n{text}\n"
                    f"first differing line: {first_differing_line(text, bits, kasm, gnu)}\n"
                    f"  kasm: {kasm.hex(' ')}\n  GNU:  {gnu.hex(' ')}\n"
                    + describe_difference(kasm, gnu, result.image.base, bits), pytrace=False)


def _settings(test):
    test = settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED is None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                    database=None)(test)
    return seed(int(SEED))(test) if SEED is not None else test


@_settings
@given(case=program())
def test_random_programs_assemble_like_gnu(binutils: None, case: tuple[int, str, bool]) -> None:
    check(*case)


def test_report_how_many_programs_were_compared(binutils: None) -> None:
    """Runs after the fuzz test (file order): prints what it compared (run with -s)."""
    print(f"\nfidelity fuzz: {COUNTS['compared']} programs byte-identical to GNU, "
          f"{COUNTS['refused']} refused by kasm (wide lines), {COUNTS['gnu_rejected']} "
          f"rejected by GNU; {sum(len(v) for v in TABLE_FORMS.values())} verified forms")

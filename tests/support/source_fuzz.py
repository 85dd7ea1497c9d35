"""Source fuzzing for kasm: random and mutated assembler text, checked in a child process.

The contract: `kasm.build.build_source(text, "fuzz.S")` returns or raises SourceError, in
bounded time, for any text. Keystone runs in-process and can kill or hang it, so every input
is built in a worker process (`python source_fuzz.py --worker`); the parent sees a crash as a
dead worker and a hang as a missing answer, and knows which input did it.

    python tests/support/source_fuzz.py --count 20000 --out /tmp/kasm-fuzz   # search
    python tests/support/source_fuzz.py --replay FILE                        # one input

Generators take a `random.Random`, so hypothesis can drive them with `st.randoms()`.
"""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS_DIRS = ("examples", "tests/asm")

# ----------------------------------------------------------------------------- vocabulary
PUNCTUATION = ".$%()[],:;#/*'\"\\"
ALPHABET = PUNCTUATION + "0123456789abcdefxlqwz_@-+<>=!&|^~ \t\n"

MNEMONICS = [
    # real
    "mov", "movb", "movw", "movl", "movq", "movabs", "movzbl", "movsbw", "movzwl", "lea",
    "add", "adc", "sub", "sbb", "and", "or", "xor", "cmp", "test", "inc", "dec", "neg",
    "not", "mul", "imul", "div", "idiv", "shl", "shr", "sar", "rol", "ror", "rcl", "push",
    "pop", "pushf", "popf", "pusha", "popa", "xchg", "cmpxchg", "bswap", "bt", "bts", "jmp",
    "ljmp", "ljmpw", "ljmpl", "jmpw", "jmpl", "jmpq", "call", "lcall", "callw", "calll",
    "ret", "lret", "iret", "int", "int3", "into", "je", "jne", "jz", "jcxz", "jecxz",
    "jrcxz", "loop", "loopne", "hlt", "nop", "cli", "sti", "cld", "std", "lgdt", "lidt",
    "ltr", "lldt", "in", "inb", "out", "outb", "outw", "outl", "insb", "outsb", "movsb",
    "movsw", "stosb", "lodsb", "scasb", "cmpsb", "rep", "repne", "lock", "cs", "es", "fs",
    "data16", "addr32", "wait", "cpuid", "rdmsr", "wrmsr", "rdtsc", "sysenter", "syscall",
    "sysret", "swapgs", "invlpg", "wbinvd", "clflush", "fld", "fstp", "fadd", "fxch",
    "movd", "movq", "movaps", "paddb", "pxor", "vaddps", "vmovdqu", "kmovw", "enter",
    "leave", "bound", "arpl", "aaa", "das", "xlat", "cbw", "cwde", "cdqe", "cqo", "sahf",
    "setne", "cmove", "cmovnz", "bsf", "popcnt", "lzcnt", "crc32", "prefetch", "pause",
    "ud2", "vmcall", "vmlaunch", "monitor", "mwait", "xsave", "xrstor", "fninit",
    "movsd", "movss", "cvtsi2sd", "sqrtsd", "jmp.d32", "mov.s",
    # fake or odd
    "movz", "jmpp", "foo", "x", "a1", "mov1", "rep2", "movqq", "lockx", "in8", "ymm",
    "MOV", "Jmp", "HLT", "xmm0", "int3x", "movl.s", "j", "l",
]
REGISTERS = [
    "%al", "%ah", "%ax", "%eax", "%rax", "%bl", "%bx", "%ebx", "%rbx", "%cx", "%ecx",
    "%dx", "%edx", "%si", "%esi", "%di", "%edi", "%sp", "%esp", "%rsp", "%bp", "%ebp",
    "%rbp", "%rip", "%eip", "%r8", "%r8d", "%r8w", "%r8b", "%r15", "%spl", "%sil",
    "%cs", "%ds", "%es", "%fs", "%gs", "%ss", "%cr0", "%cr3", "%cr4", "%cr8", "%dr7",
    "%tr6", "%st", "%st(0)", "%st(7)", "%st(8)", "%mm0", "%xmm0", "%xmm15", "%xmm31",
    "%ymm3", "%zmm9", "%k1", "%zx", "%", "%%ax", "%AX", "%r16", "%cr16", "%ax:", "%st(",
]
DIRECTIVES = [
    ".code16", ".code32", ".code64", ".text", ".data", ".bss", ".section", ".pushsection",
    ".popsection", ".previous", ".byte", ".word", ".short", ".hword", ".value", ".int",
    ".long", ".quad", ".2byte", ".4byte", ".8byte", ".dc.b", ".dc.a", ".ascii", ".asciz",
    ".string", ".fill", ".space", ".skip", ".zero", ".align", ".balign", ".p2align",
    ".balignw", ".p2alignl", ".org", ".globl", ".global", ".equ", ".set", ".equiv", ".eqv",
    ".macro", ".endm", ".exitm", ".purgem", ".rept", ".irp", ".irpc", ".endr", ".if",
    ".ifdef", ".ifndef", ".ifnotdef", ".ifc", ".ifnc", ".ifb", ".ifnb", ".ifeq", ".ifne",
    ".ifge", ".ifgt", ".ifle", ".iflt", ".elseif", ".else", ".endif", ".include", ".incbin",
    ".err", ".error", ".warning", ".print", ".end", ".intel_syntax", ".att_syntax", ".comm",
    ".lcomm", ".type", ".size", ".file", ".local", ".weak", ".foo", ".", ".if0", ".ifx",
    ".cfi_startproc", ".arch", ".sect",
]
CPP_LINES = [
    "#include <hypercall.h>", '#include "a.inc"', '#include "missing.h"', '#include "loop.h"',
    "#include", "#include <", '#include "', "#define X 1", "#define X(a) a a", "#define X X",
    "#define", "#undef X", "#if 1", "#if 0", "#if X", "#if 1/0", "#if (", "#ifdef X",
    "#ifndef X", "#elif 1", "#else", "#endif", "#error oops", "#error", "#warning w",
    "#pragma once", '#line 5 "other.S"', "#line 0", "#line 99999999999", '# 3 "x.S"',
    "# a comment", "#", "##", "#define Y(a, b) a ## b", "#include_next <hypercall.h>",
]
SYMBOLS = ["_start", "a", "b", "x1", ".L1", "$d", "loop", ".", "..", "_", "a.b", "a@b",
           "1f", "1b", "0b", "9f", "10b", "start", "end", "HYPERCALL_PORT", "HC_EXIT"]
NUMBERS = [
    "0", "1", "7", "9", "10", "42", "255", "256", "65535", "65536", "4294967295",
    "4294967296", "0x7fffffffffffffff", "0xffffffffffffffff", "0x10000000000000000",
    "18446744073709551616", "99999999999999999999999999999999", "0777", "09", "0b101",
    "0b2", "0x", "0xg", "12ab", "1e10", "-1", "-0x80000000", "'a", "'a'", "'\\n", "'\\",
    "'", "''", "1<<63", "1<<64", "1<<-1", "1>>99", "(1<<62)*4", "1/0", "1%0", "-(-1)",
    "~0", "!1", "0x" + "f" * 40, "1" * 60, "10000000", "1000000", "1073741824",
]
OPERATORS = ["+", "-", "*", "/", "%", "<<", ">>", "|", "&", "^", "!", "==", "!=", "<>",
             "<", ">", "<=", ">=", "&&", "||"]
STRINGS = ['"hi"', '""', '"\\n\\t\\\\"', '"\\x41"', '"\\x"', '"\\777"', '"\\', '"abc',
           '"a\\"b"', '"\\0"', "\"'\"", '"é"', '"\\xffff"', '"a","b"', '"a" "b"']


def _pick(rng: random.Random, items: list[str]) -> str:
    return items[rng.randrange(len(items))]


def random_expression(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 3 or r < 0.35:
        return _pick(rng, NUMBERS)
    if r < 0.5:
        return _pick(rng, SYMBOLS)
    if r < 0.6:
        return rng.choice("-~!+") + random_expression(rng, depth + 1)
    if r < 0.7:
        return "(" + random_expression(rng, depth + 1) + rng.choice([")", ")", "", "))"])
    if r < 0.75:  # deep nesting
        n = rng.choice([10, 100, 400, 1000, 3000])
        kind = rng.randrange(4)
        if kind == 0:
            return "(" * n + "1" + ")" * n
        if kind == 1:
            return "-" * n + "1"
        if kind == 2:
            return "+".join(["1"] * n)
        return "~!" * (n // 2) + "1"
    return (random_expression(rng, depth + 1) + _pick(rng, OPERATORS)
            + random_expression(rng, depth + 1))


def random_memory(rng: random.Random) -> str:
    seg = rng.choice(["", "", "", "%es:", "%fs:", "%cs:", "%xx:", "es:"])
    disp = rng.choice(["", random_expression(rng), _pick(rng, SYMBOLS)])
    shape = rng.randrange(10)
    base, index = _pick(rng, REGISTERS), _pick(rng, REGISTERS)
    scale = rng.choice(["1", "2", "4", "8", "3", "16", "", "0x2", "x"])
    inner = [f"({base})", f"({base},{index})", f"({base},{index},{scale})",
             f"(,{index},{scale})", "()", "(,)", "(,,)", f"({base}", f"{base})",
             f"(({base}))"][shape]
    return seg + disp + inner


def random_operand(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.25:
        return _pick(rng, REGISTERS)
    if r < 0.45:
        return "$" + random_expression(rng)
    if r < 0.7:
        return random_memory(rng)
    if r < 0.8:
        return "*" + rng.choice([_pick(rng, REGISTERS), random_memory(rng),
                                 random_expression(rng)])
    if r < 0.9:
        return random_expression(rng)
    return rng.choice(["$", "*", "", "$$1", "$%ax", "%ax,", "(%bx,%si", "$0x1:", "1:2",
                       "$1, $2", "$'", "$'\\", "{%k1}", "%st(1),", "*$1"])


def random_instruction(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.1:
        parts.append(rng.choice(["rep", "lock", "es", "data16", "addr32", "repne", "cs"]))
    parts.append(_pick(rng, MNEMONICS))
    n = rng.choice([0, 1, 1, 2, 2, 2, 3, 4])
    ops = [random_operand(rng) for _ in range(n)]
    sep = rng.choice([", ", ",", " , ", " "])
    line = " ".join(parts) + (" " + sep.join(ops) if ops else "")
    if rng.random() < 0.1:
        line += rng.choice([" # c", " ; hlt", " // c", " /* c */", " /* c", "\\", ";", "; ;"])
    return line


PLAUSIBLE_REGS = {16: ["%ax", "%bx", "%cx", "%dx", "%si", "%di", "%bp", "%sp", "%al", "%bh"],
                  32: ["%eax", "%ebx", "%ecx", "%esi", "%edi", "%esp", "%ebp", "%ax", "%cl"],
                  64: ["%rax", "%rbx", "%rcx", "%rsi", "%rdi", "%rsp", "%r8", "%r15d", "%eax"]}
PLAUSIBLE_MEM = {16: ["(%bx)", "(%si)", "(%di)", "(%bp)", "(%bx,%si)", "(%bp,%di)"],
                 32: ["(%eax)", "(%esp)", "(%ebp)", "(%eax,%ebx,4)", "(,%ecx,8)", "(%esi)"],
                 64: ["(%rax)", "(%rsp)", "(%rip)", "(%rax,%rbx,2)", "(,%r9,8)", "(%rdi)"]}


def plausible_instruction(rng: random.Random, bits: int) -> str:
    """A real mnemonic with operands of realistic shapes: these reach keystone."""
    def operand() -> str:
        r = rng.random()
        if r < 0.4:
            return rng.choice(PLAUSIBLE_REGS[bits])
        if r < 0.65:
            return "$" + rng.choice(["0", "1", "0x7f", "0x80", "255", "0xffff", "-1", "start",
                                     "start+2", "1f", "'a'", "0x12345678", "end-start"])
        disp = rng.choice(["", "", "4", "-8", "0x100", "start", "1b", "end-start"])
        seg = rng.choice(["", "", "", "%es:", "%fs:"])
        return seg + disp + rng.choice(PLAUSIBLE_MEM[bits] + [""] if disp else PLAUSIBLE_MEM[bits])
    mnemonic = _pick(rng, MNEMONICS[:MNEMONICS.index("movz")])
    n = rng.choice([0, 1, 1, 2, 2, 2, 3])
    ops = [operand() for _ in range(n)]
    return f"{mnemonic} {', '.join(ops)}".strip()


def plausible_program(rng: random.Random) -> str:
    bits = rng.choice([16, 32, 64])
    lines = [f".code{bits}", "start:"]
    for _ in range(rng.randrange(1, 30)):
        lines.append(plausible_instruction(rng, bits))
        if rng.random() < 0.1:
            lines.append(f"{rng.randrange(3)}:")
    lines.append("end:")
    return "\n".join(lines) + "\n"


def random_directive(rng: random.Random) -> str:
    name = _pick(rng, DIRECTIVES)
    n = rng.choice([0, 1, 1, 2, 3])
    args = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            args.append(random_expression(rng))
        elif r < 0.7:
            args.append(_pick(rng, STRINGS))
        elif r < 0.85:
            args.append(_pick(rng, SYMBOLS))
        else:
            args.append(rng.choice(['"a.inc"', '"self.inc"', '"data.bin"', "a.inc",
                                    '"missing"', '"/"', '"."', ".rodata", ".text.x",
                                    '".data"', ".foo", "x:req", "y=1", "z:vararg", "\\@"]))
    return (name + " " + ", ".join(args)).rstrip()


def random_block(rng: random.Random, depth: int = 0) -> list[str]:
    """Nested .macro/.rept/.irp/.if blocks, sometimes unbalanced or recursive."""
    kind = rng.randrange(6)
    body: list[str] = []
    for _ in range(rng.randrange(4)):
        r = rng.random()
        if r < 0.3 and depth < 4:
            body += random_block(rng, depth + 1)
        elif r < 0.6:
            body.append(random_instruction(rng))
        else:
            body.append(random_directive(rng))
    close = True if rng.random() < 0.9 else False
    if kind == 0:
        name = rng.choice(["m", "n", "mov", "hlt", "push", "m.x", "1m", "M"])
        params = rng.choice(["", "a", "a, b", "a b=1", "a:req", "a:vararg", "a=,b", "a, a",
                             "a=\\a", "a:bad", "=", "a,,b"])
        uses = rng.choice(["\\a", "\\b", "\\@", "\\()", "\\", "\\a\\b", name])
        body.append(f"    .byte {uses}" if rng.random() < 0.5 else f"    {uses}")
        if rng.random() < 0.2:
            body.append(f"    {name} {uses}")  # recursion
        lines = [f".macro {name} {params}".rstrip(), *body] + ([".endm"] if close else [])
        calls = rng.randrange(3)
        for _ in range(calls):
            lines.append(f"{name} " + ", ".join(random_operand(rng)
                                                 for _ in range(rng.randrange(3))))
        return lines
    if kind == 1:
        count = rng.choice(["0", "1", "3", "-1", "1000", "100000", "1000001", "a", "",
                            random_expression(rng)])
        return [f".rept {count}", *body] + ([".endr"] if close else [])
    if kind == 2:
        return [f".irp x, {', '.join(_pick(rng, NUMBERS) for _ in range(3))}", *body,
                "    .byte \\x"] + ([".endr"] if close else [])
    if kind == 3:
        return [f".irpc c, {rng.choice(['123', '', 'abc', '%ax'])}", *body] + (
            [".endr"] if close else [])
    cond = rng.choice([".if " + random_expression(rng), ".ifdef a", ".ifc a,b", ".ifb",
                       ".ifnb x", ".ifeq 0", ".ifgt", ".if", ".elseif 1"])
    lines = [cond, *body]
    if rng.random() < 0.5:
        lines += [rng.choice([".else", ".elseif 1", ".elseif x", ".else", ".else"]),
                  random_instruction(rng)]
    return lines + ([".endif"] if close else [])


def random_line(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        return random_instruction(rng)
    if r < 0.65:
        return random_directive(rng)
    if r < 0.72:
        return _pick(rng, SYMBOLS) + ":" + rng.choice(["", " ", " hlt", ":", " .byte 1"])
    if r < 0.8:
        return _pick(rng, SYMBOLS) + rng.choice(["=", " = ", "==", " =="]) + \
            random_expression(rng)
    if r < 0.85:
        return _pick(rng, CPP_LINES)
    if r < 0.9:
        return random_text(rng, 30)
    return "\n".join(random_block(rng))


def random_text(rng: random.Random, max_len: int = 200) -> str:
    """(a) Text from an alphabet rich in assembler punctuation."""
    n = rng.randrange(max_len + 1)
    return "".join(ALPHABET[rng.randrange(len(ALPHABET))] for _ in range(n))


def random_program(rng: random.Random) -> str:
    """(c) Random instruction and directive lines, after a random .code directive."""
    lines = [rng.choice(["", ".code16", ".code32", ".code64"])]
    if rng.random() < 0.5:
        lines.append("_start:")
    for _ in range(rng.randrange(1, 12)):
        lines.append(random_line(rng))
    return "\n".join(lines) + rng.choice(["\n", "", "\n\n"])


def corpus() -> list[str]:
    """The real sources: examples/ and tests/asm/."""
    files = sorted(p for d in CORPUS_DIRS for p in (ROOT / d).rglob("*.S"))
    return [p.read_text(errors="surrogateescape") for p in files]


def mutate(rng: random.Random, text: str) -> str:
    """(b) A real source with a few random mutations."""
    lines = text.split("\n")
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(13)
        i = rng.randrange(len(lines)) if lines else 0
        if not lines:
            lines = [""]
        if op == 0:  # delete a line
            del lines[i]
        elif op == 1:  # duplicate
            lines.insert(i, lines[i])
        elif op == 2:  # swap
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:  # truncate the file
            cut = rng.randrange(len(text) + 1)
            lines = "\n".join(lines)[:cut].split("\n")
        elif op == 4:  # insert a random token inside a line
            line = lines[i]
            k = rng.randrange(len(line) + 1)
            tok = rng.choice([_pick(rng, REGISTERS), _pick(rng, NUMBERS), _pick(rng, SYMBOLS),
                              _pick(rng, OPERATORS), rng.choice(PUNCTUATION), "\\", "\\@",
                              _pick(rng, STRINGS), "/*", "*/", "\"", "'", "(", ")"])
            lines[i] = line[:k] + tok + line[k:]
        elif op == 5:  # flip a character
            line = lines[i]
            if line:
                k = rng.randrange(len(line))
                lines[i] = line[:k] + rng.choice(ALPHABET + "\x00\x7f\u00e9\udcff") + \
                    line[k + 1:]
        elif op == 6:  # delete a character
            line = lines[i]
            if line:
                k = rng.randrange(len(line))
                lines[i] = line[:k] + line[k + 1:]
        elif op == 7:  # insert a random line / block
            lines.insert(i, random_line(rng))
        elif op == 8:  # unbalance quotes, parentheses or comments
            lines.insert(i, rng.choice(['"', "'", "(", ")", "/*", "*/", ".ascii \"", "mov (",
                                        ".macro", ".endm", ".rept 2", ".endr", ".if 1",
                                        ".endif", ".else", "#if 1", "#endif"]))
        elif op == 9:  # replace numbers in a line by a huge one
            lines[i] = "".join(rng.choice(["99999999999999999999", "0xffffffffffffffff",
                                           "1<<63", "-1", "0"]) if c.isdigit() else c
                               for c in lines[i])
        elif op == 10:  # random instruction line
            lines.insert(i, random_instruction(rng))
        elif op == 11:  # random directive with random arguments
            lines.insert(i, random_directive(rng))
        else:  # a random nested block
            lines[i:i] = random_block(rng)
    return "\n".join(lines)


def random_source(rng: random.Random, sources: list[str]) -> str:
    r = rng.random()
    if r < 0.15:
        return random_text(rng)
    if r < 0.5:
        return mutate(rng, sources[rng.randrange(len(sources))])
    if r < 0.75:
        return plausible_program(rng)
    return random_program(rng)


# ----------------------------------------------------------------------------- worker
INCLUDES = {
    "a.inc": ".macro inc_m a\n    .byte \\a\n.endm\n",
    "self.inc": '.include "self.inc"\n',
    "loop.h": '#include "loop.h"\n',
    "bad.inc": "mov %zx, %ax\n.if\n",
}


def make_sandbox() -> Path:
    """A directory with files for .include/.incbin/#include to find."""
    d = Path(tempfile.mkdtemp(prefix="kasm-fuzz-"))
    for name, text in INCLUDES.items():
        (d / name).write_text(text)
    (d / "data.bin").write_bytes(bytes(range(64)))
    return d


def _worker() -> None:
    """Read JSON lines {"text"}, answer {"status": ok|error|bug, "detail"} on the real stdout."""
    import resource
    import traceback

    out = os.fdopen(os.dup(1), "w")
    sys.stdout = sys.stderr  # nothing kasm prints may corrupt the answers
    limit = 4 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from kasm.build import build_source
    from kasm.diagnostics import SourceError

    for line in sys.stdin:
        text = json.loads(line)["text"]
        try:
            build_source(text, "fuzz.S")
            answer = {"status": "ok", "detail": ""}
        except SourceError as e:
            message = str(e)
            bad = [d for d in e.diagnostics if d.severity == "error" and not d.message]
            answer = {"status": "bug" if bad or "Traceback" in message else "error",
                      "detail": message.splitlines()[0] if message else "(empty SourceError)"}
        except BaseException as e:  # noqa: BLE001 - every other exception is the finding
            tb = traceback.format_exc()
            answer = {"status": "bug", "detail": f"{type(e).__name__}: {e}"[:300],
                      "traceback": tb[-3000:]}
        out.write(json.dumps(answer) + "\n")
        out.flush()


class Worker:
    """A child process that builds sources; survives nothing, reports everything."""

    def __init__(self, cwd: Path | None = None) -> None:
        self.cwd = cwd or make_sandbox()
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        env = dict(os.environ, KASM_NO_CACHE="1", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"], cwd=self.cwd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=env)
        return self.proc

    def check(self, text: str, timeout: float) -> dict:
        """{"status": ok|error|bug|crash|hang, "detail", "seconds"}"""
        proc = self.proc if self.proc and self.proc.poll() is None else self._start()
        assert proc.stdin and proc.stdout
        start = time.monotonic()
        try:
            proc.stdin.write(json.dumps({"text": text}) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else None
        seconds = time.monotonic() - start
        if line:
            answer = json.loads(line)
            answer["seconds"] = seconds
            return answer
        if ready:  # EOF: the worker died
            code = proc.wait()
            self.proc = None
            return {"status": "crash", "detail": f"worker died with code {code}",
                    "seconds": seconds}
        self.close()
        return {"status": "hang", "detail": f"no answer in {timeout} s", "seconds": seconds}

    def check_once(self, text: str, timeout: float) -> dict:
        """`check` in a fresh worker, closed afterwards."""
        self.close()
        try:
            return self.check(text, timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


# ----------------------------------------------------------------------------- search
def search(count: int, seed: int, out: Path, timeout: float) -> int:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    sources = corpus()
    worker = Worker()
    found: dict[str, int] = {}
    stats: dict[str, int] = {}
    slow = 0.0
    try:
        for n in range(count):
            text = random_source(rng, sources)
            answer = worker.check(text, timeout)
            if answer["status"] == "crash":  # alone, or only after the inputs before it?
                again = Worker(worker.cwd).check_once(text, timeout)
                if again["status"] != "crash":
                    answer["status"] = "crash-cumulative"
            status = answer["status"]
            stats[status] = stats.get(status, 0) + 1
            if status in ("ok", "error"):
                if answer["seconds"] > 3 and answer["seconds"] > slow:
                    (out / f"slow-{seed}-{n}.S").write_text(text, errors="surrogateescape")
                    print(f"[{n}] slow: {answer['seconds']:.1f} s -> slow-{seed}-{n}.S",
                          flush=True)
                slow = max(slow, answer["seconds"])
            if status in ("bug", "crash", "crash-cumulative", "hang"):
                key = status + ": " + answer["detail"][:80]
                found[key] = found.get(key, 0) + 1
                if found[key] <= 3:
                    name = out / f"{status}-{seed}-{n}.S"
                    name.write_text(text, errors="surrogateescape")
                    (out / f"{status}-{seed}-{n}.txt").write_text(
                        json.dumps(answer, indent=1), errors="surrogateescape")
                    print(f"[{n}] {key}  -> {name}", flush=True)
            if n % 1000 == 999:
                print(f"... {n + 1} inputs: {stats}, slowest ok {slow:.2f} s", flush=True)
    finally:
        worker.close()
    print(f"{count} inputs: {stats}, slowest ok {slow:.2f} s")
    for key, k in sorted(found.items(), key=lambda kv: -kv[1]):
        print(f"{k:6d}  {key}")
    return 1 if found else 0


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/kasm-fuzz"))
    ap.add_argument("--replay", type=Path)
    args = ap.parse_args(argv)
    if args.worker:
        _worker()
        return 0
    if args.replay:
        worker = Worker()
        print(json.dumps(worker.check(args.replay.read_text(errors="surrogateescape"),
                                      args.timeout), indent=1))
        worker.close()
        return 0
    return search(args.count, args.seed, args.out, args.timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

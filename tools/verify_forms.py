"""Build kasm/x86/verified_forms.txt: the instruction forms kasm may hand keystone.

A dev tool (it needs GNU binutils and capstone's Python package; kasm at run time needs
neither). Forms come from
  - every instruction of the GNU fidelity corpus and the examples,
  - programs drawn from the differential fuzzer's grammar (tests/kasm/test_fidelity_fuzz.py),
  - the whole x86 opcode space: legacy one-byte, 0f, 0f 38, 0f 3a maps with each ModRM
    register field and each mandatory prefix, x87, and the VEX and EVEX maps, decoded by
    capstone into AT&T text;
each in 16-, 32- and 64-bit code. Every form is then assembled with several representative
values (registers across the class, immediates and displacements across the size class,
every base/index/scale shape) by kasm and by GNU as (`as --32`/`--64`); a form is kept when
kasm writes GNU's bytes for every value both accept and refuses every value GNU refuses.

    python tools/verify_forms.py [--programs N] [--out PATH]
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support"), str(ROOT / "tests" / "kasm")]

from form_values import samples  # noqa: E402  (tests/support: the fuzzer draws from it too)

from kasm.diagnostics import AsmError, Location, SourceError  # noqa: E402
from kasm.instruction import Instruction  # noqa: E402
from kasm.x86 import encoder as encoder_module  # noqa: E402
from kasm.x86.encoding import Constants  # noqa: E402
from kasm.x86.forms import TABLE  # noqa: E402

MODES = (16, 32, 64)


class Everything:
    """A table that holds every form (kasm encodes without refusing for the table)."""

    def __contains__(self, form: str) -> bool:
        return True


SEEN: dict[str, set[str]] = defaultdict(set)  # form -> "bits\ttext" of numeric instances


def instruction_text(insn: Instruction) -> str | None:
    """The instruction as text when all its numbers are plain (an instance to reuse)."""
    for op in insn.operands:
        if op.disp is not None and op.disp[0] != "num":
            return None
    text = " ".join((*insn.prefixes, insn.mnemonic))
    if insn.operands:
        text += " " + ", ".join(op.text.strip() for op in insn.operands)
    return text


def start_recording() -> None:
    """From now on every form kasm hands keystone is noted in SEEN (and none refused)."""
    original = encoder_module.form_of

    def recording(insn: Instruction, bits: int, constants: Constants) -> str:
        form = original(insn, bits, constants)
        text = instruction_text(insn)
        SEEN[form].add("" if text is None else f"{bits}\t{text}")
        return form

    encoder_module.form_of = recording  # type: ignore[assignment]
    encoder_module.VerifiedForms = Everything  # type: ignore[assignment,misc]


def record_forms_of_sources() -> None:
    """The forms of the corpus and the examples."""
    from gnu_oracle import same_text

    from kasm.build import build_source

    sources = sorted((ROOT / "tests" / "asm").glob("*.S")) + sorted(
        p for p in (ROOT / "examples").rglob("*") if p.suffix in (".S", ".s"))
    for path in sources:
        try:
            build_source(same_text(path.read_text(), str(path), []), str(path))
        except SourceError:
            pass


def record_forms_of_table(path: str) -> None:
    """The forms of the table as it stands: each is verified again (a form met once, in a
    program the fuzzer no longer draws, stays in the table only if it still holds)."""
    if os.path.exists(path):
        for form in filter(None, Path(path).read_text().split("\n")):
            SEEN[form].add("")


def record_fuzz_programs(count: int) -> None:
    import test_fidelity_fuzz as fuzz  # type: ignore[import-not-found]
    from hypothesis import HealthCheck, given, settings

    from kasm.build import build_source

    @settings(max_examples=count, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=fuzz.program())
    def build(case: tuple[int, str]) -> None:
        try:
            build_source(case[1], "fuzz.S")
        except SourceError:
            pass

    build()


# ------------------------------------------------------------------ the opcode space
def opcode_space(bits: int) -> list[bytes]:
    """Byte patterns that start one instruction of each opcode, ModRM form and prefix."""
    tail = bytes(range(0x11, 0x21))  # displacement / immediate bytes
    modrms = [bytes([0x00 | r << 3]) for r in range(8)] + [
        bytes([0xC1 | r << 3]) for r in range(8)] + [bytes([0x44 | r << 3, 0x8B]) for r in (0, 2)]
    out = []
    rex = (b"\x48", b"\x4d", b"\x66\x41") if bits == 64 else ()
    for pfx in (b"", b"\x66", b"\xf2", b"\xf3", *rex):
        for op in range(256):
            for m in (b"",) + tuple(modrms):
                out.append(pfx + bytes([op]) + m + tail)
                out.append(pfx + b"\x0f" + bytes([op]) + m + tail)
            for m in modrms:
                out.append(pfx + b"\x0f\x38" + bytes([op]) + m + tail)
                out.append(pfx + b"\x0f\x3a" + bytes([op]) + m + tail)
    for op in range(0xD8, 0xE0):
        for m in range(256):
            out.append(bytes([op, m]) + tail)
    if bits != 16:
        for mm in (1, 2, 3):
            for w in (0, 1):
                for length in (0, 1):
                    for pp in range(4):
                        for op, m, v in itertools.product(range(256), (b"\x00", b"\xc2"),
                                                          (0x70, 0x78)):  # vvvv: xmm1, none
                            vex = bytes([0xC4, 0xE0 | mm, w << 7 | v | length << 2 | pp])
                            out.append(vex + bytes([op]) + m + tail)
                            for ll in (0, 1, 2):
                                evex = bytes([0x62, 0xF0 | mm, w << 7 | v | 0x04 | pp,
                                              ll << 5 | 0x08])
                                out.append(evex + bytes([op]) + m + tail)
    return out


# forms no other source has: GNU's pseudo index registers
EXTRA = [(32, "lea 0(%esi,%eiz,1), %esi"), (32, "lea 4(%esi,%eiz,2), %esi"),
         (32, "lea 0(,%eiz,1), %eax"), (64, "lea 0(,%riz,1), %rax"),
         (64, "lea 0(%rsi,%riz,1), %rsi"), (32, "nopw 0(%eax,%eiz,1)"),
         (64, "nopw 0(%rax,%riz,1)"), (16, "lea 0(%esi,%eiz,1), %esi")] + [
    # ports: the representative values pair registers one for one, never %al with %dx
    (bits, f"{op}{suffix} {'%dx, ' + reg if op == 'in' else reg + ', %dx'}")
    for bits in MODES for op in ("in", "out") for suffix in ("", "b", "w", "l")
    for reg in ("%al", "%ax", "%eax") if suffix in ("", "bwl"[("%al", "%ax", "%eax").index(reg)])]


IMMEDIATE_CLASSES = ("$b", "$B", "$w", "$W", "$l", "$L", "$q")


def in_every_mode(forms: dict[str, set[str]]) -> dict[str, set[str]]:
    """The forms met in one mode, in the others too (a program's `setc` in 16-bit code as
    well as in the 32-bit code where the fuzzer met it)."""
    out = dict(forms)
    for form in forms:
        rest = form.split("|", 1)[1]
        for bits in MODES:
            out.setdefault(f"{bits}|{rest}", set())
    return out


def with_siblings(forms: dict[str, set[str]]) -> dict[str, set[str]]:
    """The forms and their siblings: for a size suffix (capstone writes `addl`), the same
    without it (people write `add`); for an immediate, every other size class of it; for
    each of those, another address kind or size, byte or segment register in one operand;
    the port `%dx` written `(%dx)`; an address-size prefix on a memory form. GNU refuses
    the ones that are no instruction, and so they are not verified."""
    out = dict(forms)
    for form in forms:
        bits, prefixes, mnemonic, classes = form.split("|")
        names = [mnemonic]
        ops = classes.split(",")
        if mnemonic[-1:] in "bwlq" and len(mnemonic) > 2 and classes:
            names.append(mnemonic[:-1])
        widths = [c for c in ops if c in _SUFFIXES]
        if widths:  # and with the suffix its register operand says (`cmovpow`)
            names.append(mnemonic + _SUFFIXES[widths[-1]])
        elif classes and mnemonic[-1:] not in "bwlq":  # or every suffix (`retq $0`)
            names += [mnemonic + suffix for suffix in "bwlq"]
        shapes = {classes}
        if "$" in classes:
            at = next(i for i, c in enumerate(ops) if c.startswith("$"))
            shapes |= {_replaced(ops, at, c) for c in IMMEDIATE_CLASSES}
        if bits == "64" and mnemonic.startswith("v"):  # registers 16-31, one operand at a time
            shapes |= {_replaced(ops, at, c + "v") for at, c in enumerate(ops)
                       if c in ("x", "y", "z")}
        port = {"in": 0, "out": 1}.get(mnemonic.rstrip("bwl"))  # `%dx` also written `(%dx)`
        if port is not None and len(ops) == 2 and ops[port] == "r16":
            shapes.add(_replaced(ops, port, "(dx)"))
        for shape in list(shapes):  # other addresses and registers, one operand at a time
            sops = shape.split(",")
            shapes |= {_replaced(sops, at, other) for at, c in enumerate(sops)
                       for other in _sibling_classes(c, bits)}
        for name in names:
            for shape in shapes:
                out.setdefault(f"{bits}|{prefixes}|{name}|{shape}", set())
            if not prefixes and any(c.lstrip("*")[:1] == "m" for c in ops):
                addr = "addr32" if bits in ("16", "64") else "addr16"
                out.setdefault(f"{bits}|{addr}|{name}|{classes}", set())
    return out


def _replaced(ops: list[str], at: int, cls: str) -> str:
    return ",".join(ops[:at] + [cls] + ops[at + 1:])


_SUFFIXES = {"r8": "b", "h8": "b", "x8": "b", "r16": "w", "r32": "l", "r64": "q"}
_ADDRESSES = {"16": ("m16", "m32", "ma"), "32": ("m16", "m32", "ma"),
              "64": ("m64", "m32", "ma", "m64p")}
_SEGMENTS = ("cs", "ds", "es", "fs", "gs", "ss")


def _sibling_classes(cls: str, bits: str) -> list[str]:
    """The classes an operand of class `cls` is as often written with: another kind of
    address (of the mode's address sizes), another byte register, another segment register."""
    star = "*" if cls.endswith("*") else ""
    plain = cls.rstrip("*")
    if plain in _ADDRESSES[bits]:
        return [a + star for a in _ADDRESSES[bits] if a != plain]
    if plain in ("r8", "h8", "x8"):
        return [c for c in ("r8", "h8", "x8") if c != plain and (c != "x8" or bits == "64")]
    if plain in _SEGMENTS:
        return [s for s in _SEGMENTS if s != plain]
    return []


def record_opcode_space() -> None:
    import capstone

    from kasm.att_syntax import parse_instruction

    enc = encoder_module.Encoder(forms=Everything())  # type: ignore[arg-type]
    for bits in MODES:
        md = capstone.Cs(capstone.CS_ARCH_X86, {16: capstone.CS_MODE_16, 32: capstone.CS_MODE_32,
                                                64: capstone.CS_MODE_64}[bits])
        md.syntax = capstone.CS_OPT_SYNTAX_ATT
        texts = set()
        for code in opcode_space(bits):
            for insn in md.disasm_lite(code, 0, 1):
                text = f"{insn[2]} {insn[3]}".strip()
                if "{" not in text and "<" not in text:
                    texts.add(text)
        texts |= {text for mode, text in EXTRA if mode == bits}
        for text in sorted(texts):
            try:
                enc.encode(parse_instruction(text, Location("space", 1, 1, text)), bits)
            except Exception:  # noqa: BLE001 - refused (or keystone failed): no form
                continue


# ------------------------------------------------------------------ representative values
def variants(form: str, instances: set[str]) -> list[tuple[int, str]]:
    bits_text, prefixes, mnemonic, classes = form.split("|")
    bits = int(bits_text)
    head = " ".join(filter(None, (prefixes, mnemonic)))
    out = [(bits, t.split("\t", 1)[1]) for t in sorted(instances)[:3] if t]
    pools = [samples(c, bits) for c in classes.split(",")] if classes else []
    if any(not p for p in pools):
        return out
    n = min(10, max((len(p) for p in pools), default=1))
    for k in range(n):
        ops = ", ".join(p[k % len(p)] for p in pools)
        out.append((bits, f"{head} {ops}".strip()))
    return list(dict.fromkeys(out))


# ------------------------------------------------------------------ GNU and kasm compared
def gnu_bytes(bits: int, texts: list[str]) -> list[bytes | None]:
    """GNU's bytes for each text (None where GNU refuses it)."""
    result: list[bytes | None] = [None] * len(texts)
    todo = list(range(len(texts)))
    with tempfile.TemporaryDirectory(prefix="kasm-forms-") as tmp:
        src, obj = os.path.join(tmp, "f.s"), os.path.join(tmp, "f.o")
        for _ in range(4):
            lines = [f".code{bits}", ".allow_index_reg"] + [f"v{i}: {texts[i]}" for i in todo] \
                + ["vend:"]
            Path(src).write_text("\n".join(lines) + "\n")
            done = subprocess.run(["as", "--64" if bits == 64 else "--32", "-o", obj, src],
                                  capture_output=True, text=True)
            bad = {int(m) - 3 for m in re.findall(r":(\d+): Error", done.stderr)}
            if not bad and done.returncode == 0:
                break
            todo = [i for k, i in enumerate(todo) if k not in bad]
        else:
            return result
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", obj, src + ".bin"], check=True)
        data = Path(src + ".bin").read_bytes()
        names = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
        where = {n: int(a, 16) for a, _, n in (ln.split() for ln in names.splitlines())}
        for i in todo:
            nxt = todo[todo.index(i) + 1] if todo.index(i) + 1 < len(todo) else None
            end = where[f"v{nxt}"] if nxt is not None else where["vend"]
            result[i] = data[where[f"v{i}"]:end]
    return result


def kasm_bytes(enc: object, bits: int, text: str) -> bytes | None:
    from kasm.att_syntax import parse_instruction

    try:
        insn = parse_instruction(text, Location("forms", 1, 1, text))
        encoding = enc.encode(insn, bits)  # type: ignore[attr-defined]
    except AsmError:
        return None
    except Exception:  # noqa: BLE001 - keystone's own failures are refusals too
        return None
    if encoding.fields or encoding.branch is not None:
        return None
    return encoding.data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", type=int, default=3000, help="fuzzer programs drawn")
    parser.add_argument("--out", default=TABLE)
    parser.add_argument("--report", action="store_true", help="print each form left out")
    parser.add_argument("--no-opcode-space", action="store_true", help="corpus and fuzzer only")
    parser.add_argument("--add", action="store_true", help="verify only the forms of the "
                        "corpus, examples and fuzzer the table lacks, and add those that hold")
    args = parser.parse_args()
    start_recording()
    record_forms_of_sources()
    if not args.add:
        record_forms_of_table(TABLE)
    record_fuzz_programs(args.programs)
    programs = in_every_mode(SEEN)  # the opcode space is met in every mode already
    if not args.no_opcode_space and not args.add:
        record_opcode_space()
    forms = with_siblings({**SEEN, **programs})
    kept: list[str] = []
    if args.add:
        kept = list(filter(None, Path(TABLE).read_text().split("\n")))
        known = set(kept)
        forms = {f: inst for f, inst in forms.items() if f not in known}
    print(f"{len(forms)} forms met", file=sys.stderr)
    enc = encoder_module.Encoder(forms=Everything())  # type: ignore[arg-type]
    cases: dict[str, list[tuple[int, str]]] = {f: variants(f, inst) for f, inst in forms.items()}
    by_mode: dict[int, list[str]] = defaultdict(list)
    for vs in cases.values():
        for bits, text in vs:
            by_mode[bits].append(text)
    gnu: dict[tuple[int, str], bytes | None] = {}
    for bits, texts in by_mode.items():
        texts = sorted(set(texts))
        gnu.update(zip(((bits, t) for t in texts), gnu_bytes(bits, texts), strict=True))
    verified = list(kept)
    compared = 0
    for form, vs in cases.items():
        ok = bool(vs)
        accepted = 0
        for bits, text in vs:
            ours, theirs = kasm_bytes(enc, bits, text), gnu[(bits, text)]
            compared += 1
            if ours != theirs:
                ok = False
                if args.report:
                    print(f"{form}: {text!r} kasm {ours.hex(' ') if ours else 'refuses'}, "
                          f"GNU {theirs.hex(' ') if theirs else 'refuses'}", file=sys.stderr)
                break
            accepted += theirs is not None
        if ok and accepted:
            verified.append(form)
    Path(args.out).write_text("\n".join(sorted(verified)) + "\n")
    print(f"{len(verified) - len(kept)} of {len(forms)} forms verified ({compared} lines "
          f"compared); the table holds {len(verified)}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Places sections and resolves every symbol and fixup: the layout of `ld -N`.

`.text` at the load address, then `.rodata`, `.data`, `.bss`, each aligned to its own
alignment and packed (input sections `.text.*` etc. follow their parent, as ld places them).
"""

from __future__ import annotations

from vmm.vocabulary import BootMode

from .assembler import (
    Assembler,
    Fixup,
    Fragment,
    ObjectSection,
    SymbolEnv,
    is_private_name,
    shown_name,
)
from .diagnostics import NESTED_TOO_DEEPLY, AsmError, DiagnosticLog, Location
from .expr import Unknown, Value, evaluate
from .image import Image, Section, Symbol

OUTPUT_SECTIONS = (".text", ".rodata", ".data", ".bss")


def _output_of(name: str) -> str:
    return next(o for o in OUTPUT_SECTIONS if name == o or name.startswith(o + "."))


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


class _LinkEnv(SymbolEnv):
    """Every label at its final address: all values are plain numbers now."""

    def __init__(self, asm: Assembler, input_address: dict[str, int]):
        self.asm = asm
        self.input_address = input_address

    def label(self, frag: Fragment, offset: int) -> Value:
        return Value(self.input_address[frag.section] + frag.address + offset)

    def undefined(self, name: str, loc: Location | None) -> Value:
        raise AsmError(f"undefined symbol '{shown_name(name)}'", loc)


def link(asm: Assembler, objects: dict[str, ObjectSection], base: int,
         log: DiagnosticLog) -> Image:
    grouped: dict[str, list[ObjectSection]] = {o: [] for o in OUTPUT_SECTIONS}
    for name, obj in objects.items():
        grouped[_output_of(name)].append(obj)
    for out in grouped.values():  # ld's `*(.text) *(.text.*)`: the plain name first
        out.sort(key=lambda o: o.name != _output_of(o.name))

    input_address: dict[str, int] = {}
    sections: list[Section] = []
    addr = base
    for out_name in OUTPUT_SECTIONS:
        inputs = [o for o in grouped[out_name] if o.size or o.name == ".text"]
        if not inputs:
            continue
        out_align = max(o.align for o in inputs)
        addr = _align(addr, out_align)
        start = addr
        data = bytearray()
        for obj in inputs:
            addr = _align(addr, obj.align)
            data += bytes(addr - start - len(data))
            input_address[obj.name] = addr
            data += obj.data if not obj.nobits else bytes(obj.size)
            addr += obj.size
        nobits = out_name == ".bss"
        sections.append(Section(out_name, start, b"" if nobits else bytes(data), out_align,
                                nobits=nobits, size_override=len(data) if nobits else None))
    for name in objects:
        input_address.setdefault(name, addr)

    env = _LinkEnv(asm, input_address)
    patched = {s.name: bytearray(s.data) for s in sections}
    section_start = {s.name: s.address for s in sections}
    for name, obj in objects.items():
        out = _output_of(name)
        for offset, fixup in obj.fixups:
            where = input_address[name] + offset
            try:
                value = _fixup_value(fixup, env, where)
            except AsmError as e:
                log.error(e.message, e.loc or fixup.loc)
                continue
            except RecursionError:
                log.error(NESTED_TOO_DEEPLY, fixup.loc)
                continue
            field = _field_bytes(value, fixup, log)
            if field is None:
                continue
            if out == ".bss":
                log.error("a value in .bss (which holds no data)", fixup.loc)
                continue
            pos = where - section_start[out]
            patched[out][pos:pos + fixup.width] = field
    for s in sections:
        if not s.nobits:
            s.data = bytes(patched[s.name])

    symbols: list[Symbol] = []
    for name, sym in asm.symbols.items():
        if is_private_name(name) or not sym.defined:
            continue
        try:
            value = env.symbol(name, sym.loc).const
        except (AsmError, Unknown):
            continue
        except RecursionError:
            if not any(d.message == NESTED_TOO_DEEPLY for d in log.errors):  # once is enough
                log.error(NESTED_TOO_DEEPLY, sym.loc)
            continue
        section = _output_of(sym.frag.section) if sym.frag is not None else None
        symbols.append(Symbol(name, value, section, sym.is_global))
    for name, loc in asm.globals.items():
        if name not in asm.symbols:
            log.error(f"global symbol '{name}' is never defined", loc)
    log.check()

    by_name = {s.name: s for s in symbols}
    text = next((s for s in sections if s.name == ".text" and s.size), None)
    if text is None:
        log.error("no code: .text is empty, so there is nothing to run "
                  "(instructions go in .text, the default section)", None)
        log.check()
    entry = by_name["_start"].value if "_start" in by_name else text.address
    mode = BootMode.for_bits(asm.first_code_bits or 16)
    return Image(base=base, sections=sections, symbols=symbols, entry=entry, mode=mode)


def _fixup_value(fixup: Fixup, env: _LinkEnv, where: int) -> int:
    try:
        value = evaluate(fixup.node, env, fixup.loc)
    except Unknown:  # pragma: no cover - the link env knows every symbol or says which
        raise AsmError("undefined symbol", fixup.loc) from None
    v = value.const
    if fixup.pcrel_end is not None:
        v -= where - fixup.offset + fixup.pcrel_end  # the CPU counts from the next instruction
    return v


def _field_bytes(value: int, fixup: Fixup, log: DiagnosticLog) -> bytes | None:
    bits = fixup.width * 8
    if fixup.signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = -(1 << (bits - 1)), (1 << bits) - 1
    if bits < 64 and not lo <= value <= hi:
        what = "jump target" if fixup.pcrel_end is not None and fixup.signed is None else "value"
        article = "an" if bits == 8 else "a"
        log.error(f"{what} 0x{value & ((1 << 64) - 1):x} does not fit in {article} {bits}-bit "
                  "field", fixup.loc)
        return None
    return (value & ((1 << bits) - 1)).to_bytes(fixup.width, "little")

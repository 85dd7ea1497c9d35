"""Places sections and resolves every symbol and relocation: the layout of `ld -N`.

`.text` at the load address, then `.rodata`, `.data`, `.bss`, each aligned to its own
alignment and packed (input sections `.text.*` etc. follow their parent, as ld places them).
"""

from __future__ import annotations

from vmm.vocabulary import BootMode

from .contents import Contents
from .diagnostics import NESTED_TOO_DEEPLY, AsmError, DiagnosticLog, Location
from .expr import Unknown, Value, evaluate
from .image import Image, Section, Symbol
from .lines import LineTable
from .objfile import ObjectFile, ObjectSection, ObjectSymbol, Relocation
from .symbols import SymbolEnv, is_private_name, plain_section_name, shown_name
from .x86 import linker_fill

OUTPUT_SECTIONS = (".text", ".rodata", ".data", ".bss")


def link(obj: ObjectFile, base: int, log: DiagnosticLog, comp_dir: str = "",
         source_name: str = "") -> Image:
    """The object file placed at `base` as `ld -N` would, every relocation filled in, with
    the line table of its instructions (file names relative to `comp_dir`)."""
    sections, input_address = _place(obj.sections, base, obj.final_bits)
    env = _LinkEnv(obj.symbols, input_address)
    _relocate(obj.sections, sections, input_address, env, log)
    symbols = _symbols(obj.symbols, env, log)
    for name, loc in obj.globals.items():
        if name not in obj.symbols:
            log.error(f"global symbol '{name}' is never defined", loc)
    log.check()
    text = next((s for s in sections if s.name == ".text" and s.size), None)
    if text is None:
        log.error("no code: .text is empty, so there is nothing to run "
                  "(instructions go in .text, the default section)", None)
        log.check()
    entry = next((s.value for s in symbols if s.name == "_start"), text.address)
    lines = LineTable.link(comp_dir, source_name,
                           [(input_address[o.name], o.lines) for o in obj.sections if o.lines])
    return Image(base=base, sections=sections, symbols=symbols, entry=entry,
                 mode=BootMode.for_bits(obj.mode_bits), lines=lines)


def _output_of(name: str) -> str:
    name = plain_section_name(name)
    return next(o for o in OUTPUT_SECTIONS if name == o or name.startswith(o + "."))


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def _place(inputs: list[ObjectSection], base: int, final_bits: int
           ) -> tuple[list[Section], dict[str, int]]:
    """The output sections from `base` on, and the address of every input section. Gaps
    between input sections of .text are NOPs, as ld's fill for code (its emulation follows
    the mode at the end of the file, as GNU as's NOPs do), zeros elsewhere."""
    grouped: dict[str, list[ObjectSection]] = {o: [] for o in OUTPUT_SECTIONS}
    for obj in inputs:
        grouped[_output_of(obj.name)].append(obj)
    for out in grouped.values():  # ld's `*(.text) *(.text.*)`: the plain name first
        out.sort(key=lambda o: plain_section_name(o.name) != _output_of(o.name))
    input_address: dict[str, int] = {}
    sections: list[Section] = []
    addr = base
    for out_name in OUTPUT_SECTIONS:
        placed = [o for o in grouped[out_name] if o.size or o.name == ".text"]
        if not placed:
            continue
        out_align = max(o.align for o in placed)
        addr = _align(addr, out_align)
        start = addr
        for obj in placed:
            addr = _align(addr, obj.align)
            input_address[obj.name] = addr
            addr += obj.size
        nobits = out_name == ".bss"
        data = Contents()
        if not nobits:
            for obj in placed:
                gap = input_address[obj.name] - start - len(data)
                if out_name == ".text" and gap:
                    data.append(linker_fill(gap, final_bits))
                else:
                    data.append_zeros(gap)
                if obj.nobits:
                    data.append_zeros(obj.size)
                else:
                    data.extend(obj.data)
        sections.append(Section(out_name, start, data, out_align, nobits=nobits,
                                size_override=addr - start if nobits else None))
    for obj in inputs:  # empty ones: wherever, nothing is there
        input_address.setdefault(obj.name, addr)
    return sections, input_address


class _LinkEnv(SymbolEnv):
    """Every label at its final address: all values are plain numbers now."""

    def __init__(self, symbols: dict[str, ObjectSymbol], input_address: dict[str, int]):
        super().__init__(symbols)
        self.input_address = input_address

    def label(self, sym: ObjectSymbol) -> Value:
        assert sym.section is not None
        return Value(self.input_address[sym.section] + sym.offset)

    def undefined(self, name: str, loc: Location | None) -> Value:
        raise AsmError(f"undefined symbol '{shown_name(name)}'", loc)


def _relocate(inputs: list[ObjectSection], sections: list[Section],
              input_address: dict[str, int], env: _LinkEnv, log: DiagnosticLog) -> None:
    """Write every relocation's value into its output section (errors are logged)."""
    output = {s.name: s for s in sections}
    for obj in inputs:
        out = _output_of(obj.name)
        for rel in obj.relocations:
            try:
                value = _value(rel, env, input_address[obj.name])
            except AsmError as e:
                log.error(e.message, e.loc or rel.loc)
                continue
            except RecursionError:
                log.error(NESTED_TOO_DEEPLY, rel.loc)
                continue
            field = _field_bytes(value, rel, log)
            if field is None:
                continue
            if out == ".bss":
                log.error("a value in .bss (which holds no data)", rel.loc)
                continue
            section = output[out]
            section.data.patch(input_address[obj.name] + rel.offset - section.address, field)


def _value(rel: Relocation, env: _LinkEnv, section_address: int) -> int:
    try:
        value = evaluate(rel.node, env, rel.loc)
    except Unknown:  # pragma: no cover - the link env knows every symbol or says which
        raise AsmError("undefined symbol", rel.loc) from None
    if rel.pc is not None:
        return value.const - (section_address + rel.pc)  # the CPU counts from there
    return value.const


def _field_bytes(value: int, rel: Relocation, log: DiagnosticLog) -> bytes | None:
    """The field's bytes, or None (logged) when `value` does not fit: a signed field as a
    signed number, any other as GNU's fixup_segment checks it (-(2**bits-1)..2**bits-1)."""
    bits = rel.width * 8
    if rel.signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = -((1 << bits) - 1), (1 << bits) - 1
    if bits < 64 and not lo <= value <= hi:
        what = "jump target" if rel.pc is not None and rel.signed is None else "value"
        article = "an" if bits == 8 else "a"
        log.error(f"{what} 0x{value & ((1 << 64) - 1):x} does not fit in {article} {bits}-bit "
                  "field", rel.loc)
        return None
    return (value & ((1 << bits) - 1)).to_bytes(rel.width, "little")


def _symbols(symbols: dict[str, ObjectSymbol], env: _LinkEnv, log: DiagnosticLog
             ) -> list[Symbol]:
    """The image's symbols: every one the user named, at its final value, but `.L` local
    labels (GNU as never puts them in its symbol table)."""
    out: list[Symbol] = []
    for name, sym in symbols.items():
        if is_private_name(name) or name.startswith(".L"):
            continue
        try:
            value = env.symbol(name, sym.loc).const
        except (AsmError, Unknown):
            continue
        except RecursionError:
            if not any(d.message == NESTED_TOO_DEEPLY for d in log.errors):  # once is enough
                log.error(NESTED_TOO_DEEPLY, sym.loc)
            continue
        section = _output_of(sym.section) if sym.section is not None else None
        out.append(Symbol(name, value, section, sym.is_global))
    return out

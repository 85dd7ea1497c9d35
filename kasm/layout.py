"""Layout: relax branches and size alignments, then write each section's bytes.

Sizes settle by iteration from every jmp/jcc short: a branch whose target is out of rel8
reach (or in another section) grows, which may push others out of reach, until nothing
grows. Fields whose values are known within a section are written; the rest become
relocations of the object file. Errors are logged, not raised: every backwards `.org` and
every out-of-range branch is reported, as GNU as reports them.
"""

from __future__ import annotations

from . import expr
from .contents import Contents
from .diagnostics import AsmError, DiagnosticLog, Location
from .expr import Unknown, Value
from .fragments import (
    MAX_SECTION_SIZE,
    Align,
    Assembly,
    Branch,
    Fixup,
    Fragment,
    SectionFragments,
    check_size,
)
from .objfile import ObjectFile, ObjectSection, ObjectSymbol, Relocation
from .symbols import SymbolEnv
from .x86 import nop_fill


class _LayoutEnv(SymbolEnv):
    """Symbols as section-relative addresses."""

    def label(self, sym) -> Value:  # noqa: ANN001 - a fragments.SymbolDef
        return Value(sym.frag.address + sym.offset, ((("sec", sym.frag.section), 1),))


def layout(assembly: Assembly, log: DiagnosticLog) -> ObjectFile:
    """Relax branches, size alignments, resolve in-section fields; the object file."""
    env = _LayoutEnv(assembly.symbols)
    sections = []
    for sec in assembly.sections:
        _relax(sec, env, log)
        sections.append(_reserve(sec, log) if sec.nobits else
                        _write(sec, env, assembly.final_bits, log))
    symbols = {
        name: ObjectSymbol(name, sym.loc, sym.frag.section if sym.frag else None,
                           sym.frag.address + sym.offset if sym.frag else 0, sym.node,
                           sym.is_global)
        for name, sym in assembly.symbols.items() if sym.defined}
    return ObjectFile(sections, symbols, assembly.globals, assembly.first_code_bits or 16)


def _relax(sec: SectionFragments, env: _LayoutEnv, log: DiagnosticLog) -> None:
    for _ in range(1000):
        addr = 0
        errors: list[AsmError] = []  # this pass's: a size in error counts as 0
        for frag in sec.frags:
            frag.address = addr
            addr += len(frag.data)
            try:
                frag.var_size = _var_size(frag, addr, env)
            except AsmError as e:
                frag.var_size = 0
                errors.append(e)
            addr += frag.var_size
            if addr > MAX_SECTION_SIZE:
                check_size(addr, frag.var.loc if frag.var is not None else None)
        grew = False
        for frag in sec.frags:
            var = frag.var
            if isinstance(var, Branch) and not var.long:
                disp = _branch_disp(frag, var, env)
                if disp is None or not -128 <= disp <= 127:
                    var.long = True
                    grew = True
        if not grew:
            for e in errors:
                log.error(e.message, e.loc)
            return
    raise AsmError(f"layout of section {sec.name} does not settle", None)


def _var_size(frag: Fragment, addr: int, env: _LayoutEnv) -> int:
    var = frag.var
    if var is None:
        return 0
    if isinstance(var, Branch):
        return var.size()
    if isinstance(var, Align):
        pad = -addr % var.alignment
        if var.max_skip is not None and pad > var.max_skip:
            return 0
        return pad
    try:
        v = expr.evaluate(var.count, env, var.loc)
    except Unknown:
        raise AsmError("size is not known (undefined symbol)", var.loc) from None
    base = v.single_base()
    if var.is_org:
        if not (v.is_const or base == ("sec", frag.section)):
            raise AsmError(".org target must be in the current section", var.loc)
        target = v.const
        if target < addr:
            where = (f"-0x{-target:x}, before the start of the section" if target < 0
                     else f"0x{target:x}, already at 0x{addr:x}")
            raise AsmError(f"attempt to move .org backwards (to {where})", var.loc)
        return check_size(target - addr, var.loc)
    if not v.is_const:
        raise AsmError("space size must be an absolute expression", var.loc)
    return check_size(max(v.const, 0), var.loc)


def _branch_disp(frag: Fragment, br: Branch, env: _LayoutEnv) -> int | None:
    """Displacement to the target if it is in this section, else None."""
    end = frag.address + len(frag.data) + br.size()
    target = br.target
    if target[0] == "sym":  # the common case, a label: what evaluate would find, directly
        sym = env.symbols.get(target[1])
        if sym is not None and sym.frag is not None:
            if sym.frag.section != frag.section:
                return None
            return sym.frag.address + sym.offset - end
    try:
        v = expr.evaluate(target, env, br.loc)
    except (Unknown, AsmError):
        return None
    if v.single_base() != ("sec", frag.section):
        return None
    return v.const - end


def _write(sec: SectionFragments, env: _LayoutEnv, final_bits: int, log: DiagnosticLog
           ) -> ObjectSection:
    data = Contents()
    relocations: list[Relocation] = []
    for frag in sec.frags:
        assert len(data) == frag.address
        data.append(frag.data)
        for f in frag.fixups:
            if f.short_branch and not _short_branch_reaches(frag, f, env, log):
                continue
            pc = None if f.pcrel_end is None else frag.address + f.pcrel_end
            relocations.append(Relocation(frag.address + f.offset, f.width, f.node, f.loc, pc,
                                          f.signed))
        var = frag.var
        if var is None:
            continue
        if isinstance(var, Branch):
            data.append(_branch_bytes(frag, var, env, relocations, len(data), log))
        elif isinstance(var, Align) and (var.fill is not None or var.code):
            data.append(_padding(frag, var, final_bits, log))
        elif isinstance(var, Align) or not any(var.fill):
            data.append_zeros(frag.var_size)  # a long run stays a size
        else:
            data.append((var.fill * (frag.var_size // len(var.fill) + 1))[:frag.var_size])
    return ObjectSection(sec.name, data, sec.align, False, len(data), relocations,
                         _lines(sec))


def _lines(sec: SectionFragments) -> list[tuple[int, int, Location]]:
    """Each instruction at its offset in the section; a branch's size is now known."""
    return [(frag.address + offset,
             len(frag.data) - offset + frag.var_size if size is None else size, loc)
            for frag, offset, size, loc in sec.lines]


def _padding(frag: Fragment, var: Align, final_bits: int, log: DiagnosticLog) -> bytes:
    size = frag.var_size
    if var.fill is not None:
        if size % var.fill_size:
            log.error(f"alignment padding ({size} bytes) is not a multiple of "
                      f"{var.fill_size}", var.loc)
            return bytes(size)
        pattern = var.fill.to_bytes(var.fill_size, "little", signed=var.fill < 0)
        return (pattern * (size // var.fill_size + 1))[:size]
    return nop_fill(size, final_bits)


def _reserve(sec: SectionFragments, log: DiagnosticLog) -> ObjectSection:
    """A .bss section is only a size: reserved space is never turned into bytes."""
    for frag in sec.frags:
        if any(frag.data) or frag.fixups:
            loc = frag.fixups[0].loc if frag.fixups else None
            log.error(f"section {sec.name} holds no data, but non-zero data was "
                      "written to it", loc)
            break
    last = sec.frags[-1]
    size = last.address + len(last.data) + last.var_size
    return ObjectSection(sec.name, Contents(), sec.align, True, size, [])


def _short_branch_reaches(frag: Fragment, fixup: Fixup, env: _LayoutEnv, log: DiagnosticLog
                          ) -> bool:
    """A loop/jcxz reaches only -128..127 bytes, in its own section (else: logged)."""
    try:
        v = expr.evaluate(fixup.node, env, fixup.loc)
    except Unknown:
        return True  # undefined: the linker says so
    except AsmError:
        v = None
    if v is None or v.single_base() != ("sec", frag.section):
        where = "is not in this section"
    else:
        assert fixup.pcrel_end is not None
        disp = v.const - (frag.address + fixup.pcrel_end)
        if -128 <= disp <= 127:
            return True
        where = f"is {disp} bytes away"
    log.error(_out_of_range(where), fixup.loc)
    return False


def _out_of_range(where: str) -> str:
    return f"jump target out of range: the target {where}, this instruction reaches -128..127"


def _branch_bytes(frag: Fragment, br: Branch, env: _LayoutEnv, relocations: list[Relocation],
                  at: int, log: DiagnosticLog) -> bytes:
    disp = _branch_disp(frag, br, env)
    if not br.long:
        assert br.form.short is not None
        if disp is None or not -128 <= disp <= 127:
            where = "is not in this section" if disp is None else f"is {disp} bytes away"
            log.error(_out_of_range(where), br.loc)
            disp = 0
        return br.form.short + (disp & 0xFF).to_bytes(1, "little")
    assert br.form.long is not None
    width = br.form.long_width
    opcode = br.form.long
    if disp is not None:
        warnings: list[str] = []
        field = expr.field_bytes(disp, width, True, warnings)
        for message in warnings:
            log.warning(message, br.loc)
        return opcode + field
    end = at + len(opcode) + width
    relocations.append(Relocation(at + len(opcode), width, br.target, br.loc, end, None))
    return opcode + bytes(width)

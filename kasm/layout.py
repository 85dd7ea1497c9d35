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
    Nops,
    SectionFragments,
    Space,
    check_size,
)
from .objfile import ObjectFile, ObjectSection, ObjectSymbol, Relocation
from .symbols import SymbolEnv, plain_section_name
from .x86 import longest_nop, nop_fill


class _LayoutEnv(SymbolEnv):
    """Symbols as section-relative addresses (and the weak names, which branches never
    reach short)."""

    weak: frozenset[str] = frozenset()

    def label(self, sym) -> Value:  # noqa: ANN001 - a fragments.SymbolDef
        return Value(sym.frag.address + sym.offset, ((("sec", sym.frag.section), 1),))


def layout(assembly: Assembly, log: DiagnosticLog) -> ObjectFile:
    """Relax branches, size alignments, resolve in-section fields; the object file."""
    env = _LayoutEnv(assembly.symbols)
    env.weak = assembly.weak
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
    return ObjectFile(sections, symbols, assembly.globals, assembly.first_code_bits or 16,
                      assembly.final_bits)


def _relax(sec: SectionFragments, env: _LayoutEnv, log: DiagnosticLog) -> None:
    """GNU's relax_segment, pass for pass, so that its fixed point is reached, not merely a
    fixed point: addresses are updated frag by frag as a pass goes (a later branch sees the
    growth of an earlier one at once, and an alignment may absorb it), a forward target not
    reached yet this pass is assumed to move with the growth so far unless an alignment or
    `.org` lies between (GNU's regions), and nothing ever shrinks. A size in error counts
    as 0; the errors of the last pass are logged, each once."""
    frags = sec.frags
    regions = _first_guess(frags, env)
    moving = None
    for _ in range(1000):
        stretch = 0
        stretched = False
        errors: dict[int, AsmError] = {}  # this pass's, by frag index
        for frag in frags:
            was = frag.address
            frag.address = was + stretch
            var = frag.var
            if var is None:
                continue
            old = frag.var_size
            if isinstance(var, Branch):
                if not var.long and not _short_reaches(frag, var, stretch, regions, env):
                    var.long = True
                    frag.var_size = var.size()
            elif isinstance(var, Align):
                frag.var_size = _pad(var, frag.address + len(frag.data))
            elif isinstance(var, Nops):
                frag.var_size = var.size
            elif isinstance(var, Space):
                try:
                    frag.var_size = _space_size(frag, var, env, final=False)
                except AsmError as e:
                    frag.var_size = 0
                    errors[frag.index] = e
            if frag.var_size != old:
                stretch += frag.var_size - old
                stretched = True
                moving = var.loc  # what still changes size when the passes run out
            if frag.address + len(frag.data) + frag.var_size > MAX_SECTION_SIZE:
                check_size(frag.address + len(frag.data) + frag.var_size, var.loc)
        if not stretched:
            for frag in frags:  # what GNU reports once the addresses are final
                if isinstance(frag.var, Space) and frag.index not in errors:
                    try:
                        _space_size(frag, frag.var, env, final=True)
                    except AsmError as e:
                        errors[frag.index] = e
            for e in errors.values():
                log.error(e.message, e.loc)
            return
    raise AsmError(f"layout of section {sec.name} does not settle: this size keeps changing "
                   "(does it depend on itself?)", moving)


def _first_guess(frags: list[Fragment], env: _LayoutEnv) -> dict[int, int]:
    """Addresses before relaxing, as GNU guesses them: branches short (long if the target is
    in another section), alignments padded, `.org`/`.space` of unknown size empty. Returns
    each frag's region (by frag index): a new one starts after each alignment and `.org`."""
    regions: dict[int, int] = {}
    region = 0
    addr = 0
    for frag in frags:
        regions[frag.index] = region
        frag.address = addr
        addr += len(frag.data)
        var = frag.var
        size = 0
        if isinstance(var, Branch):
            if not var.long and _target_frag(var, frag, env) is None:
                var.long = True
            size = var.size()
        elif isinstance(var, Align):
            size = _pad(var, addr)
            region += 1
        elif isinstance(var, Space) and var.is_org:
            region += 1
        elif isinstance(var, Space) and var.count[0] == "num":  # zeros kept as a size
            size = max(var.count[1], 0)
        frag.var_size = size  # a .nops starts at 0, as GNU's rs_space_nop, and grows
        addr += size
    return regions


def _pad(var: Align, addr: int) -> int:
    pad = -addr % var.alignment
    return 0 if var.max_skip is not None and pad > var.max_skip else pad


def _target_frag(br: Branch, frag: Fragment, env: _LayoutEnv) -> Fragment | None:
    """The fragment of the label a branch targets (`L`, `L+n`, `L-n`) in the branch's own
    section; None when it is elsewhere, undefined or not a label."""
    node = br.target
    if node[0] == "bin" and node[1] in ("+", "-") and node[3][0] == "num":
        node = node[2]
    if node[0] != "sym":
        return None
    sym = env.symbols.get(node[1])
    if sym is None or not sym.defined or node[1] in env.weak:
        return None
    if sym.frag is None:  # a symbol defined by an expression: where it evaluates
        return frag if _branch_disp(frag, br, env) is not None else None
    return sym.frag if sym.frag.section == frag.section else None


def _short_reaches(frag: Fragment, br: Branch, stretch: int, regions: dict[int, int],
                   env: _LayoutEnv) -> bool:
    """Whether the rel8 form still reaches its target, judged as GNU's relax_frag does."""
    assert br.form.short is not None
    disp = _branch_disp(frag, br, env, short=True)
    if disp is None:
        return False
    target_frag = _target_frag(br, frag, env)
    if stretch and target_frag is not None and target_frag.index > frag.index:
        # not reached yet this pass: GNU assumes it moves by the stretch so far, unless an
        # alignment (which may absorb it) lies between; a target that would then seem to be
        # behind the branch is taken as in reach
        if regions[target_frag.index] == regions[frag.index]:
            disp += stretch
        elif disp < -1:
            return True
    return -128 <= disp <= 127


def _space_size(frag: Fragment, var: Space, env: _LayoutEnv, final: bool) -> int:
    """The size of a `.org`/`.space` whose size depends on labels, at the addresses now."""
    addr = frag.address + len(frag.data)
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
            if final:
                where = (f"-0x{-target:x}, before the start of the section" if target < 0
                         else f"0x{target:x}, already at 0x{addr:x}")
                raise AsmError(f"attempt to move .org backwards (to {where})", var.loc)
            return frag.var_size  # GNU waits for the final addresses to judge
        return check_size(target - addr, var.loc)
    if not v.is_const:
        raise AsmError("space size must be an absolute expression", var.loc)
    if v.const < 0:  # GNU ignores it with a warning, but its relaxation then sizes it its way
        raise AsmError(f"a .space/.fill whose size depends on labels came out negative "
                       f"({v.const}) during layout: kasm cannot size it as GNU does", var.loc)
    return check_size(v.const, var.loc)


def _branch_disp(frag: Fragment, br: Branch, env: _LayoutEnv, short: bool = False
                 ) -> int | None:
    """Displacement to the target if it is in this section, else None (of the short form
    when `short`, else of the branch's form now)."""
    end = frag.address + len(frag.data) + (len(br.form.short or b"") + 1 if short else br.size())
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
        elif isinstance(var, Nops):
            if var.limit > longest_nop(final_bits):
                log.error(f"invalid single nop size: {var.limit} (expect within "
                          f"[0, {longest_nop(final_bits)}])", var.loc)
                data.append_zeros(var.size)
            else:
                data.append(nop_fill(var.size, final_bits, var.limit))
        elif isinstance(var, Align) or not any(var.fill):
            data.append_zeros(frag.var_size)  # a long run stays a size
        else:
            data.append((var.fill * (frag.var_size // len(var.fill) + 1))[:frag.var_size])
    if sec.merge is not None:
        try:
            _check_nothing_to_merge(sec, bytes(data))
        except AsmError as e:
            log.error(e.message, e.loc)
    return ObjectSection(sec.name, data, sec.align, False, len(data), relocations,
                         _lines(sec))


def _check_nothing_to_merge(sec: SectionFragments, data: bytes) -> None:
    """ld merges equal constants (and strings that end another string) in a section with the
    M flag, which moves every later one; kasm links it only when there is nothing to merge."""
    assert sec.merge is not None
    size, strings, loc = sec.merge
    if strings and size == 1:
        items = data.split(b"\0")[:-1] if data.endswith(b"\0") else data.split(b"\0")
        for i, item in enumerate(items):
            if any(j != i and other.endswith(item) for j, other in enumerate(items)):
                raise AsmError(f"kasm cannot link section {plain_section_name(sec.name)} as ld "
                               f"does: ld merges the string {item.decode('latin-1')!r} into "
                               "an equal or longer one (mergeable sections with duplicates "
                               "are not supported)", loc)
        return
    seen: set[bytes] = set()
    for at in range(0, len(data) - size + 1, size):
        item = data[at:at + size]
        if item in seen:
            raise AsmError(f"kasm cannot link section {plain_section_name(sec.name)} as ld "
                           f"does: ld merges the duplicate constant 0x{item[::-1].hex()} "
                           "(mergeable sections with duplicates are not supported)", loc)
        seen.add(item)


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

"""GNU's refusals that keystone lacks: where keystone would encode an instruction GNU
rejects (often as another instruction, silently), or hang or abort the process on it."""

from __future__ import annotations

import re

from ..diagnostics import AsmError
from ..instruction import REGISTER_WIDTH, Instruction
from .keystone import KEYSTONE_PREFIXES


def check_instruction(insn: Instruction, bits: int) -> None:
    """Every check that applies to any instruction with a mnemonic."""
    check_high_byte_rex(insn, bits)
    check_prefix_operands(insn)
    check_64bit_only(insn, bits)
    if insn.prefixes:
        check_lock(insn)
        check_rep(insn)
        check_hle_bnd(insn)


_HIGH_BYTE = ("%ah", "%bh", "%ch", "%dh")
_EXTENDED = re.compile(r"%r(?:[89]|1[0-5])[bwdl]?\b", re.IGNORECASE)  # REX.R/X/B
_NEW_BYTE = ("%sil", "%dil", "%spl", "%bpl")  # only with a REX prefix


def check_high_byte_rex(insn: Instruction, bits: int) -> None:
    """%ah/%bh/%ch/%dh cannot be encoded in an instruction that needs a REX prefix (an
    extended or new 8-bit register, a 64-bit operand). GNU says so; keystone either writes
    another register (%ah beside %sil becomes %spl) or aborts the whole process (LLVM's
    "Cannot encode high byte register"), so kasm asks first."""
    if bits != 64:
        return
    high = next((op.reg for op in insn.operands if op.kind == "reg" and op.reg in _HIGH_BYTE),
                None)
    if high is None:
        return
    for op in insn.operands:
        if op.kind == "reg":
            rex = op.reg in _NEW_BYTE or REGISTER_WIDTH.get(op.reg) == 64 or _EXTENDED.match(op.reg)
        else:
            rex = _EXTENDED.match(op.base) or _EXTENDED.match(op.index)
        if rex:
            raise AsmError(f"can't encode register '{high}' in an instruction requiring REX "
                           "prefix", insn.loc)


_VSIB = ("vgather", "vpgather", "vscatter", "vpscatter")  # the only users of a vector index
_BASE16 = {"%bx": ("%si", "%di", ""), "%bp": ("%si", "%di", ""), "%si": ("",), "%di": ("",)}
_NO_INDEX = ("%sp", "%esp", "%rsp", "%eip", "%rip")
_ADDRESS_SIZE_PREFIXES = {"addr16": 16, "addr32": 32}


def check_base_index(insn: Instruction, bits: int) -> None:
    """Registers in `(base,index,scale)` that GNU rejects: keystone silently encodes most of
    them as some other register (`(%xmm0)` as `(%eax)`, `(%si,%bx)` as `(%bx,%si)`)."""
    for op in insn.operands:
        if op.kind != "mem" or not op.uses_registers:
            continue
        base, index = op.base, op.index
        if base == "%dx" and not index:  # `(%dx)`: the I/O port, not an address
            if insn.mnemonic.rstrip("bwl") in ("in", "out", "ins", "outs"):
                continue
            raise AsmError(f"register type mismatch for '{insn.mnemonic}'", insn.loc)
        if index[1:4] in ("xmm", "ymm", "zmm"):
            if not insn.mnemonic.startswith(_VSIB):
                raise AsmError(f"unsupported vector index register for '{insn.mnemonic}'",
                               insn.loc)
            index = ""
        if base == "%eip":  # keystone writes %eax/%rax in its place, silently
            raise AsmError("'%eip'-relative addresses are not supported (use %rip)" if bits == 64
                           else "bad register name '%eip'", insn.loc)
        widths = {REGISTER_WIDTH.get(r) for r in (base, index) if r}
        for p in insn.prefixes:  # an explicit address size the registers must have
            widths.add(_ADDRESS_SIZE_PREFIXES.get(p, REGISTER_WIDTH.get(base or index)))
        if len(widths) == 1:
            width = widths.pop()
            if width == 16:
                ok = bits != 64 and index in _BASE16.get(base, ()) and op.scale == 1
            else:
                ok = width in (32, 64) and index not in _NO_INDEX and not (
                    index and base in ("%eip", "%rip"))
            if ok:
                continue
        raise AsmError(f"'{op.text.strip().lstrip('*').strip()}' is not a valid base/index "
                       "expression", insn.loc)


# Mnemonics GNU allows only in 64-bit code, which keystone encodes in 16/32-bit code as
# another instruction (`incq (%eax)` as incl, `cltq` as cwtl); found by comparing with as.
_ONLY_64 = frozenset((
    "cdqe cltq cmpsq cmpxchg16b cqo cqto decq divq fxrstor64 fxsave64 idivq imulq incq lcallq "
    "ljmpq movsq mulq negq notq rclq rcrq rolq rorq sarq shlq shrq sldtq smovq swapgs "
    "xrstor64 xrstors64 xsave64 xsavec64 xsaveopt64 xsaveoptq xsaves64").split())


# Names keystone encodes that GNU does not know (or not in 64-bit code: `into` is ce there).
_NOT_GNU = frozenset("icebp pcommit pushfd popfd salc cb extr fstpnce pmull vmov".split())


def check_64bit_only(insn: Instruction, bits: int) -> None:
    """A 64-bit-only mnemonic outside .code64 is GNU's error; keystone silently encodes it."""
    if bits != 64 and insn.mnemonic in _ONLY_64:
        raise AsmError(f"'{insn.mnemonic}' is only supported in 64-bit mode", insn.loc)
    if bits == 64 and insn.mnemonic in ("into", "es", "ss"):
        raise AsmError(f"'{insn.mnemonic}' is not supported in 64-bit mode", insn.loc)
    if insn.mnemonic in _NOT_GNU:
        raise AsmError(f"unknown instruction '{insn.mnemonic}'", insn.loc)


_LOCKABLE = frozenset("add adc and btc btr bts cmpxchg cmpxchg8b cmpxchg16b dec inc neg not or "
                      "sbb sub xadd xchg xor".split())


def check_lock(insn: Instruction) -> None:
    """`lock` only before a lockable instruction with a memory destination (GNU's rule);
    keystone writes the f0 before anything (`lock hlt`)."""
    if "lock" not in insn.prefixes or not insn.mnemonic:
        return
    name = insn.mnemonic
    if name not in _LOCKABLE and name[-1:] in "bwlq" and name[:-1] in _LOCKABLE:
        name = name[:-1]
    ops = insn.operands
    if name not in _LOCKABLE or not ops or not (
            ops[-1].kind == "mem" or name == "xchg" and any(op.kind == "mem" for op in ops)):
        raise AsmError("expecting lockable instruction after 'lock'", insn.loc)


_REP_OK = re.compile(r"(?:movs|cmps|lods|stos|scas|ins|outs|smov)[bwlqd]?|bs[fr][wlq]?|ret[wlq]?"
                     r"|montmul|xsha1|xsha256|xstore(?:rng)?|xcrypt(?:ecb|cbc|ctr|cfb|ofb)")


def check_rep(insn: Instruction) -> None:
    """rep/repe/repne only before the instructions GNU allows them on (string instructions,
    `rep ret`, `rep nop`, ...); kasm would write the f3/f2 before anything."""
    reps = [p for p in insn.prefixes if p.startswith("rep")]
    if not insn.mnemonic or len(reps) != 1:  # GNU takes `rep rep add` (as two statements)
        return
    if _REP_OK.fullmatch(insn.mnemonic) or insn.mnemonic == "nop" and not insn.operands:
        return
    raise AsmError(f"invalid instruction '{insn.mnemonic}' after '{reps[0]}'", insn.loc)


def check_hle_bnd(insn: Instruction) -> None:
    """xacquire/xrelease (HLE hints) only where GNU takes them: a locked instruction, xchg
    with memory, and (xrelease) a store by mov; bnd only before a branch."""
    name, ops = insn.mnemonic, insn.operands
    base = name[:-1] if name[-1:] in "bwlq" and name[:-1] in _LOCKABLE | {"mov"} else name
    for hint in ("xacquire", "xrelease"):
        if hint not in insn.prefixes:
            continue
        memory = any(op.kind == "mem" for op in ops)
        if base == "xchg" and memory:
            continue
        if base == "mov":
            if hint == "xacquire":
                raise AsmError(f"instruction 'mov' after '{hint}' not allowed", insn.loc)
            if not ops or ops[-1].kind != "mem":
                raise AsmError(f"memory destination needed for instruction 'mov' after "
                               f"'{hint}'", insn.loc)
            continue
        if base not in _LOCKABLE:
            raise AsmError(f"invalid instruction '{name}' after '{hint}'", insn.loc)
        if "lock" not in insn.prefixes:
            raise AsmError(f"missing 'lock' with '{hint}'", insn.loc)
    if "bnd" in insn.prefixes and not _BND_OK.fullmatch(name):
        raise AsmError("expecting valid branch instruction after 'bnd'", insn.loc)


_BND_OK = re.compile(r"(?:jmp|call|ret)[wlq]?|j(?:" + "|".join(
    "o no b c nae nb nc ae e z ne nz be na a nbe s ns p pe np po l nge ge nl le ng g nle"
    .split()) + ")")


def check_prefix_operands(insn: Instruction) -> None:
    """A prefix mnemonic followed by operands is an error (GNU reads the operand as the
    mnemonic of the next instruction); keystone would hang the process on it."""
    if insn.mnemonic in KEYSTONE_PREFIXES and insn.operands:
        text = insn.operands[0].text.strip()
        if text[:1] in ("%", "$", "(", "*"):
            raise AsmError(f"invalid character '{text[0]}' in mnemonic", insn.loc)
        raise AsmError(f"'{insn.mnemonic}' before another instruction is not supported",
                       insn.loc)


_REDUNDANT = {16: ("addr16", "data16"), 32: ("addr32", "data32"), 64: ()}


def check_size_prefixes(insn: Instruction, bits: int) -> None:
    """GNU's errors for an address/operand size prefix that names the mode's own size or
    does not exist in 64-bit code; kasm would silently drop it (or write addr16 as 0x67)."""
    for p in insn.prefixes:
        if bits == 64 and p in ("addr16", "data32", "es", "ss"):
            raise AsmError(f"'{p}' is not supported in 64-bit mode", insn.loc)
        if insn.mnemonic and p in _REDUNDANT[bits]:
            raise AsmError(f"redundant {p} prefix", insn.loc)

"""Machine code for one instruction: keystone for the encoding, kasm for what keystone gets wrong.

Keystone 0.9.2 is fed single instructions with hex numbers only (never directives, which can
crash or hang it). Its known departures from GNU as are repaired here, each with a test:
prefix order, `int $3`, 0x66 on moves to segment registers, `mov $imm32,%r64`, and relative
branches (encoded here entirely, with GNU's short/long relaxation).
"""

from __future__ import annotations

import re

from vmm.values import Value

from .diagnostics import AsmError, Location
from .operands import (
    PREFIXES,
    REGISTER_WIDTH,
    REGISTERS,
    SEGMENT_REGISTERS,
    Instruction,
    Operand,
)

# Placeholder pairs for a label-valued field: every byte differs, none fits a shorter form.
PLACEHOLDERS = {4: (0x12345678, 0x6DCBA987), 2: (0x1234, 0x6DCB), 1: (0x12, 0x6D)}

# GNU as emits legacy prefixes in this order (its i.prefix[] slots).
_PREFIX_SLOT = {0x9B: 0, 0x26: 1, 0x2E: 1, 0x36: 1, 0x3E: 1, 0x64: 1, 0x65: 1,
                0x67: 2, 0x66: 3, 0xF2: 4, 0xF3: 4, 0xF0: 5}

JCC = {
    "jo": 0x0, "jno": 0x1, "jb": 0x2, "jc": 0x2, "jnae": 0x2, "jnb": 0x3, "jnc": 0x3,
    "jae": 0x3, "je": 0x4, "jz": 0x4, "jne": 0x5, "jnz": 0x5, "jbe": 0x6, "jna": 0x6,
    "ja": 0x7, "jnbe": 0x7, "js": 0x8, "jns": 0x9, "jp": 0xA, "jpe": 0xA, "jnp": 0xB,
    "jpo": 0xB, "jl": 0xC, "jnge": 0xC, "jge": 0xD, "jnl": 0xD, "jle": 0xE, "jng": 0xE,
    "jg": 0xF, "jnle": 0xF,
}
LOOPS = {"loop": 0xE2, "loope": 0xE1, "loopz": 0xE1, "loopne": 0xE0, "loopnz": 0xE0,
         "jcxz": 0xE3, "jecxz": 0xE3, "jrcxz": 0xE3}
_LOOP_ADDR_BITS = {"jcxz": 16, "jecxz": 32, "jrcxz": 64}
_WIDTH_SUFFIX = {"w": 16, "l": 32, "q": 64}

# GNU's NOP fill for code alignment (binutils 2.40). GNU picks the table by the .code mode in
# force at the END of the file, not where the padding is: f16_patt, f32_patt (as --32), or
# for a file that ends in .code64 the long-mode table of `as --64` (alt_patt). `as --32`
# would pad 64-bit code with `8d 74 26 00`, which in long mode truncates RSI: kasm follows
# `as --64` there, and the fidelity tests compare such files with it.
_NOPS16 = [b"\x90", b"\x66\x90", b"\x8d\x74\x00", b"\x8d\xb4\x00\x00"]
_NOPS32 = [b"\x90", b"\x66\x90", b"\x8d\x76\x00", b"\x8d\x74\x26\x00", None,
           b"\x8d\xb6\x00\x00\x00\x00", b"\x8d\xb4\x26\x00\x00\x00\x00"]
_NOPS64 = [bytes.fromhex(h) for h in (
    "90", "6690", "0f1f00", "0f1f4000", "0f1f440000", "660f1f440000", "0f1f8000000000",
    "0f1f840000000000", "660f1f840000000000", "662e0f1f840000000000",
    "66662e0f1f840000000000")]
# (table, longest NOP used, most NOPs before GNU jumps over the padding instead)
_NOP_TABLES = {16: (_NOPS16, 4, 2), 32: (_NOPS32, 7, 2), 64: (_NOPS64, 11, 7)}


def nop_fill(count: int, final_bits: int) -> bytes:
    """Padding of `count` bytes exactly as GNU as 2.40 writes it into code sections."""
    if count <= 0:
        return b""
    patt, size, max_nops = _NOP_TABLES[final_bits]
    out = bytearray()
    if count // size > max_nops:
        disp = count - 2
        if disp <= 127:
            out += bytes([0xEB, disp])
            count = disp
        elif final_bits == 16:
            count -= 6
            out += b"\x66\xe9" + count.to_bytes(4, "little")
        else:
            count -= 5
            out += b"\xe9" + count.to_bytes(4, "little")
    longest = patt[size - 1]
    assert longest is not None
    last = count % size
    out += longest * (count // size)
    if last:
        nop = patt[last - 1]
        out += nop if nop is not None else patt[last - 2] + patt[0]
    return bytes(out)


class BranchForm(Value):
    """How a relative branch is encoded: short (rel8) and long forms."""

    __slots__ = ("short", "long", "long_width")

    def __init__(self, short: bytes | None, long: bytes | None, long_width: int) -> None:
        self.short = short  # opcode bytes before a rel8, None when there is no short form
        self.long = long  # opcode bytes before a rel16/rel32, None when there is no long form
        self.long_width = long_width  # 2 or 4


def branch_form(mnemonic: str, bits: int, loc: Location) -> BranchForm | None:
    """The encoding of `mnemonic` as a relative branch, or None if it is not one."""
    name = mnemonic
    width = 32 if bits == 64 else bits
    prefix = b""
    if name not in JCC and name not in LOOPS and name not in ("jmp", "call"):
        if name[:-1] in ("jmp", "call") and name[-1] in _WIDTH_SUFFIX:
            want = _WIDTH_SUFFIX[name[-1]]
            name = name[:-1]
            if bits == 64:
                if want == 16:
                    raise AsmError(f"'{mnemonic}' is not supported in 64-bit mode", loc)
            elif want == 64:
                raise AsmError(f"'{mnemonic}' needs 64-bit mode (.code64)", loc)
            elif want != bits:
                prefix, width = b"\x66", want
        else:
            return None
    if name in JCC:
        cc = JCC[name]
        return BranchForm(bytes([0x70 + cc]), prefix + bytes([0x0F, 0x80 + cc]), width // 8)
    if name == "jmp":
        return BranchForm(prefix + b"\xeb", prefix + b"\xe9", width // 8)
    if name == "call":
        return BranchForm(None, prefix + b"\xe8", width // 8)
    addr_bits = _LOOP_ADDR_BITS.get(name, bits)
    if (bits == 64) != (addr_bits == 64) and name != "jecxz" or (bits == 64 and addr_bits == 16):
        raise AsmError(f"'{name}' is not valid in {bits}-bit mode", loc)
    pre = b"" if addr_bits == bits else b"\x67"
    return BranchForm(pre + bytes([LOOPS[name]]), None, 0)


def is_relative_branch(insn: Instruction) -> bool:
    if len(insn.operands) != 1 or insn.operands[0].star or insn.operands[0].kind != "mem":
        return False
    if insn.operands[0].base_index or insn.operands[0].segment:
        return False
    name = insn.mnemonic
    return (name in JCC or name in LOOPS or name in ("jmp", "call")
            or (name[:-1] in ("jmp", "call") and name[-1] in _WIDTH_SUFFIX))


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
        if (op.kind == "reg" and (op.reg in _NEW_BYTE or REGISTER_WIDTH.get(op.reg) == 64)
                or _EXTENDED.search(op.reg if op.kind == "reg" else op.base_index)):
            raise AsmError(f"can't encode register '{high}' in an instruction requiring REX "
                           "prefix", insn.loc)


_VSIB = ("vgather", "vpgather", "vscatter", "vpscatter")  # the only users of a vector index
_BASE16 = {"%bx": ("%si", "%di", ""), "%bp": ("%si", "%di", ""), "%si": ("",), "%di": ("",)}
_NO_INDEX = ("%sp", "%esp", "%rsp", "%eip", "%rip")


def check_base_index(insn: Instruction, bits: int) -> None:
    """Registers in `(base,index,scale)` that GNU rejects: keystone silently encodes most of
    them as some other register (`(%xmm0)` as `(%eax)`, `(%si,%bx)` as `(%bx,%si)`)."""
    for op in insn.operands:
        if op.kind != "mem" or "%" not in op.base_index:
            continue
        if op.base_index == "(%dx)":  # the I/O port, not an address
            if insn.mnemonic.rstrip("bwl") in ("in", "out", "ins", "outs"):
                continue
            raise AsmError(f"register type mismatch for '{insn.mnemonic}'", insn.loc)
        parts = op.base_index[1:-1].split(",")
        base, index = parts[0], parts[1] if len(parts) > 1 else ""
        scale = parts[2] if len(parts) > 2 else ""
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
            widths.add({"addr16": 16, "addr32": 32}.get(p, REGISTER_WIDTH.get(base or index)))
        if len(widths) == 1:
            width = widths.pop()
            if width == 16:
                ok = bits != 64 and index in _BASE16.get(base, ()) and scale in ("", "1")
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


# Mnemonics LLVM's x86 parser reads as prefixes of a following instruction: keystone loops
# forever on one followed by an operand (`rex64 %r8`, `data16 (%eax)`).
_KEYSTONE_PREFIXES = frozenset(("lock", "rep", "repe", "repz", "repne", "repnz", "rex64",
                                "data16"))


def check_prefix_operands(insn: Instruction) -> None:
    """A prefix mnemonic followed by operands is an error (GNU reads the operand as the
    mnemonic of the next instruction); keystone would hang the process on it."""
    if insn.mnemonic in _KEYSTONE_PREFIXES and insn.operands:
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


def prefix_bytes(prefixes: list[str], bits: int) -> bytes:
    out = bytearray()
    for p in prefixes:
        code = PREFIXES[p]
        if code == -16:
            code = 0x66 if bits != 16 else -1
        elif code == -32:
            code = 0x66 if bits == 16 else -1
        elif code == -116:
            code = 0x67 if bits != 16 else -1
        elif code == -132:
            code = 0x67 if bits != 32 else -1
        if code >= 0:
            out.append(code)
    return bytes(out)


# String instructions: base name -> (opcode of the byte form, the operand roles it takes).
# Keystone crashes the process (SIGSEGV) after a few string instructions written with
# explicit memory operands, so kasm encodes every such form itself.
STRING_OPS = {
    "movs": (0xA4, ("si", "di")), "cmps": (0xA6, ("si", "di")), "lods": (0xAC, ("si",)),
    "stos": (0xAA, ("di",)), "scas": (0xAE, ("di",)), "ins": (0x6C, ("dx", "di")),
    "outs": (0x6E, ("si", "dx")), "xlat": (0xD7, ("bx",)),
}
_INDEX_REGS = {"si": ("%si", "%esi", "%rsi"), "di": ("%di", "%edi", "%rdi"),
               "bx": ("%bx", "%ebx", "%rbx")}
_SEGMENT_BYTES = {"%es:": 0x26, "%cs:": 0x2E, "%ss:": 0x36, "%ds:": 0x3E, "%fs:": 0x64,
                  "%gs:": 0x65}
_ACCUMULATOR_BITS = {"%al": 8, "%ax": 16, "%eax": 32, "%rax": 64}


def string_instruction(insn: Instruction, bits: int) -> bytes | None:
    """The encoding of a string instruction written with operands (`movsb (%si), (%di)`),
    checked as GNU checks it; None when `insn` is not one."""
    name = insn.mnemonic
    base, suffix = name, ""
    if base not in STRING_OPS and name != "xlatb":
        base, suffix = name[:-1], name[-1]
        if base not in STRING_OPS or suffix not in "bwlq":
            return None
    if name == "xlatb":
        base, suffix = "xlat", ""
    if not insn.operands:
        return None
    opcode, roles = STRING_OPS[base]
    for op in insn.operands:  # `movsb %al, %ax` is movsx, not the string instruction
        if op.kind == "imm" or op.kind == "reg" and not (
                op.reg in _ACCUMULATOR_BITS and base in ("lods", "stos", "scas")
                or op.reg == "%dx" and "dx" in roles):
            return None
    size = {"b": 8, "w": 16, "l": 32, "q": 64}.get(suffix)
    # GNU's checks on what keystone would encode regardless (`scasb *%eax`, `lodsl %al`)
    if any(op.star for op in insn.operands):
        raise AsmError(f"operand type mismatch for '{base}'", insn.loc)
    if base in ("lods", "stos", "scas") and all(op.kind == "reg" for op in insn.operands):
        what = "invalid instruction suffix" if suffix else "operand size mismatch"
        raise AsmError(f"{what} for '{base}'", insn.loc)
    for op in insn.operands:
        if size and op.kind == "reg" and _ACCUMULATOR_BITS.get(op.reg, size) != size:
            raise AsmError(f"'{op.reg}' not allowed with '{name}'", insn.loc)
    segment = b""
    address_bits: int | None = None
    for op in insn.operands:
        if op.kind == "reg" and op.reg in _ACCUMULATOR_BITS and base in ("lods", "stos", "scas"):
            size = size or _ACCUMULATOR_BITS[op.reg]
            continue
        if op.kind == "reg" and op.reg == "%dx" or op.base_index == "(%dx)" and "dx" in roles:
            continue
        reg = op.base_index[1:-1]
        role = next((r for r in roles if r != "dx" and reg in _INDEX_REGS[r]), None)
        if op.kind != "mem" or role is None or op.disp is not None:
            expected = " or ".join(f"({_INDEX_REGS[r][(bits // 32)]})" for r in roles
                                   if r != "dx")
            raise AsmError(f"'{op.text.strip()}' is not valid here for '{name}' "
                           f"(expected {expected})", insn.loc)
        reg_bits = 16 << _INDEX_REGS[role].index(reg)
        if address_bits is not None and reg_bits != address_bits:
            raise AsmError(f"'{name}': its operands use different address sizes", insn.loc)
        if bits == 64 and reg_bits == 16 or bits != 64 and reg_bits == 64:
            raise AsmError(f"'{reg}' can't address memory in {bits}-bit code", insn.loc)
        address_bits = reg_bits
        if role == "di":
            if op.segment not in ("", "%es:"):
                raise AsmError(f"'{name}': the destination segment is always %es", insn.loc)
        elif op.segment and op.segment != "%ds:":
            segment = bytes([_SEGMENT_BYTES[op.segment]])
    if base == "xlat":
        size = 8
    if size is None:
        raise AsmError(f"'{name}' needs a size suffix (b, w, l or q): its operands don't say",
                       insn.loc)
    if size == 64 and bits != 64:
        raise AsmError(f"'{name}' needs 64-bit mode (.code64)", insn.loc)
    prefixes = bytearray(segment)
    if address_bits is not None and address_bits != bits:
        prefixes.append(0x67)
    if size in (16, 32) and size != (16 if bits == 16 else 32):
        prefixes.append(0x66)
    if size == 64:
        prefixes.append(0x48)
    return bytes(prefixes) + bytes([opcode + (size != 8 and base != "xlat")])


def merge_prefixes(explicit: bytes, code: bytes) -> bytes:
    """Prefixes written as mnemonics (`rep es movsb`, `addr32 ...`) joined with the encoding's.

    GNU emits each prefix once, in its slot order, whatever order the source wrote them in;
    an `addr32` the operands already imply is not doubled.
    """
    if not explicit:
        return code
    n = 0
    while n < len(code) and code[n] in _PREFIX_SLOT:
        n += 1
    run = list(dict.fromkeys(explicit + code[:n]))
    if all(b in _PREFIX_SLOT for b in run):
        run.sort(key=_PREFIX_SLOT.__getitem__)
    return bytes(run) + code[n:]


def rip_to_absolute(code: bytes, disp_at: int) -> bytes:
    """Turn keystone's `disp32(%rip)` encoding into GNU's 64-bit absolute `disp32` (SIB 0x25).

    ModRM mod=00 rm=101 is rip-relative in 64-bit mode; GNU writes rm=100 with a SIB byte of
    no base and no index, so the displacement is an address, not an offset from rip.
    """
    modrm = code[disp_at - 1]
    if modrm & 0xC7 != 0x05:
        raise AssertionError(f"expected a rip-relative ModRM before offset {disp_at}: {code.hex()}")
    return code[:disp_at - 1] + bytes([(modrm & 0x38) | 0x04, 0x25]) + code[disp_at:]


def gnu_narrow(value: int, width: int, bits: int, immediate: bool) -> tuple[int, bool]:
    """A constant immediate or displacement of a `width`-bit field as GNU as reads it.

    Returns the value to encode (sign-extended from `width` bits) and whether GNU keeps the
    full-width form although that value fits a byte. GNU (optimize_imm/optimize_disp)
    sign-converts a value that fits 32 bits unsigned (0xffffffff is -1), outside 64-bit code
    cuts a wider one to 32 bits (sign-converting an immediate, not a displacement), then
    sign-converts it again only if it fits the field unsigned, and chooses imm8/disp8 from
    what it has then: `addw $0x1ffff, %bx` is `81 c3 ff ff` and `0x10000(%bx)` a zero
    disp16, where keystone, handed the truncated value, would pick the short form (and
    garbles fields wider than 32 bits).
    """
    if 0 <= value < (1 << 32):
        value = _signed(value, 32)
    elif bits != 64 and not -(1 << 31) <= value < 0:
        value = _signed(value, 32) if immediate else value & 0xFFFFFFFF
    mask = (1 << width) - 1
    if 0 <= value <= mask:
        value = _signed(value, width)
    short = _signed(value & mask, width)
    return short, width > 8 and short != value and -128 <= short <= 127


def _signed(value: int, width: int) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def address_bits(op: Operand, bits: int, pre: bytes) -> int:
    """The address size of memory operand `op`: its registers', else the mode's (an explicit
    addr16/addr32, an 0x67 in `pre`, switches an absolute address to the other size)."""
    regs = [r for r in op.base_index.strip("()").split(",") if r.startswith("%")]
    if regs:
        if regs[0] in ("%rip", "%eip"):
            return 64 if regs[0] == "%rip" else 32
        return REGISTER_WIDTH.get(regs[-1], bits)
    if 0x67 not in pre:
        return bits
    return 32 if bits != 32 else 16


class Keystone:
    """One keystone engine per mode, with a cache: most programs repeat instructions."""

    def __init__(self) -> None:
        self._engines: dict[int, object] = {}
        self._cache: dict[tuple[int, str], bytes | int] = {}
        self._known: dict[str, bool] = {}
        self._templates: dict[tuple, tuple[bytes, int, bytes] | None] = {}

    def _engine(self, bits: int):  # noqa: ANN202 - keystone has no type stubs
        eng = self._engines.get(bits)
        if eng is None:
            import keystone

            mode = {16: keystone.KS_MODE_16, 32: keystone.KS_MODE_32, 64: keystone.KS_MODE_64}
            eng = keystone.Ks(keystone.KS_ARCH_X86, mode[bits])
            eng.syntax = keystone.KS_OPT_SYNTAX_ATT
            self._engines[bits] = eng
        return eng

    def encode(self, bits: int, text: str, insn: Instruction) -> bytes:
        """The encoding of `text` (kasm's rendering of `insn`), or an AsmError about `insn`."""
        key = (bits, text)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._from_template(bits, text)
        if hit is None:
            hit = self._raw(bits, text)
            self._cache[key] = hit
        if isinstance(hit, int) or not hit:
            raise AsmError(self._message(hit, insn, bits, text), insn.loc)
        return hit

    def _raw(self, bits: int, text: str) -> bytes | int:
        """The encoding (empty for keystone's silent failure), or keystone's error number."""
        import keystone

        words = text.split(None, 1)
        if len(words) == 2 and words[0] in _KEYSTONE_PREFIXES:
            return keystone.KS_ERR_ASM_INVALIDOPERAND  # keystone would hang (see above)
        try:
            encoding, _ = self._engine(bits).asm(text, 0)
        except keystone.KsError as e:
            return int(e.errno)
        return bytes(encoding or b"")

    def _from_template(self, bits: int, text: str) -> bytes | None:
        """The encoding of an instruction whose one number is an immediate, from an encoding
        of the same instruction with another value of its class (see value_class): most
        distinct texts in a big program differ only in such a constant, and each keystone
        call costs ~25 us. None (ask keystone) when the text or value does not qualify."""
        m = _IMMEDIATE.search(text)
        if m is None or "0x" in text[m.end():] or "0x" in text[:m.start()]:
            return None  # no immediate, or another number (a displacement) as well
        value = int(m.group(1), 16)
        cls = value_class(value)
        if cls is None:
            return None
        shape = (bits, text[:m.start(1)], text[m.end():], cls)
        template = self._templates.get(shape, False)
        if template is False:
            template = self._make_template(bits, text, m, value, cls)
            if template is False:
                return None  # not decided by this value: another one may make the template
            self._templates[shape] = template
        if template is None:
            return None
        return fill_template(template, value, cls)

    def _make_template(self, bits: int, text: str, m: re.Match[str], value: int,
                       cls: tuple) -> tuple[bytes, int, bytes] | None | bool:
        """A template (see find_template) checked against keystone's encodings of `text` and
        of the same text with the value's partner. None when there is no template for the
        class, False when this value has no partner in it."""
        other = partner(value, cls)
        if value_class(other) != cls:
            return False
        code = self._raw(bits, text)
        self._cache[(bits, text)] = code
        if not _is_encoding(code):
            return None
        other_text = text[:m.start(1)] + (f"-0x{-other:x}" if other < 0 else f"0x{other:x}") \
            + text[m.end():]
        other_code = self._cache.get((bits, other_text))
        if other_code is None:
            other_code = self._cache[(bits, other_text)] = self._raw(bits, other_text)
        if not _is_encoding(other_code):
            return None
        assert isinstance(code, bytes) and isinstance(other_code, bytes)
        return find_template(code, value, other_code, other)

    def knows_mnemonic(self, mnemonic: str) -> bool:
        """Keystone says "mnemonic failed" both for unknown names and for bad operand
        combinations; probing a few operand shapes tells the two apart."""
        known = self._known.get(mnemonic)
        if known is None:
            known = any(_is_encoding(self._raw(bits, f"{mnemonic} {ops}".strip()))
                        for bits in (16, 64) for ops in _PROBES)
            self._known[mnemonic] = known
        return known

    def _message(self, errno: int | bytes, insn: Instruction, bits: int, text: str) -> str:
        import keystone

        mnemonic = insn.mnemonic
        shown = ", ".join(op.text.strip() for op in insn.operands)
        bare = [op.disp_text for op in insn.operands
                if op.kind == "mem" and not op.base_index and f"%{op.disp_text}" in REGISTERS]
        if bare:
            return (f"register '{bare[0]}' needs a '%' prefix: kasm reads AT&T syntax "
                    f"(write %{bare[0]})")
        if errno == keystone.KS_ERR_ASM_MNEMONICFAIL and not self.knows_mnemonic(mnemonic):
            return f"unknown instruction '{mnemonic}'"
        if errno == keystone.KS_ERR_ASM_MISSINGFEATURE:
            return f"'{mnemonic} {shown}' is not valid in {bits}-bit mode".replace(" '", "'")
        widths = {REGISTER_WIDTH[op.reg] for op in insn.operands
                  if op.kind == "reg" and op.reg in REGISTER_WIDTH}
        if len(widths) > 1:
            return f"operand size mismatch for '{mnemonic}'"
        if not shown:
            return f"'{mnemonic}' needs operands"
        return f"invalid operands for '{mnemonic}': {shown}"


def _is_encoding(result: bytes | int) -> bool:
    return isinstance(result, bytes) and bool(result)


# kasm's rendering of an immediate (assembler._hex): `$0x1f`, `$-0x1f`
_IMMEDIATE = re.compile(r"\$(-?0x[0-9a-f]+)")
_MASK16, _MASK32 = (1 << 16) - 1, (1 << 32) - 1


def value_class(value: int) -> tuple | None:
    """Immediates that keystone (LLVM's x86 matcher) encodes in one form: the same sign and
    bit length, and the same answer to whether the value, cut to 16 or 32 bits, is a
    sign-extended imm8 (isImmSExti16i8 and the like: `addw $0xff80` is an imm8). None for
    what a template must not cover: small values, where the special forms are (shift by 1,
    `int $3`, imm8), and values beyond a signed 64-bit number."""
    if -256 <= value <= 256 or not -(1 << 63) <= value < (1 << 63):
        return None
    length = (value if value >= 0 else ~value).bit_length()
    # beyond -256..256, the values that are a sign-extended imm8 once cut to 16 or 32 bits
    # (cut to 64 bits: only values beyond the range above)
    wraps = (0xFF80 <= value <= _MASK16, 0xFFFFFF80 <= value <= _MASK32)
    return (value < 0, length, wraps[0] or wraps[1], wraps)


def partner(value: int, cls: tuple) -> int:
    """The value with every bit flipped that varies within its class (for a template's check):
    all bits below the top one, or for a wrapped imm8 (cls[2]) the low seven. It may fall
    outside the class (0x8010's is 0xffef, an imm8 once cut to 16 bits): then it is no use."""
    if cls[2]:
        return value ^ 0x7F
    return value ^ ((1 << (cls[1] - 1)) - 1)


def find_template(code: bytes, value: int, other_code: bytes, other: int
                  ) -> tuple[bytes, int, bytes] | None:
    """(bytes before the value, its width, bytes after) from the encodings of an instruction
    with `value` and with its partner `other`: both must be the same bytes around a field
    that holds exactly the value (little-endian). None when they are not."""
    if len(other_code) != len(code):
        return None
    # the partner differs from the value in every bit that varies within the class, so
    # every reading that fits both encodings gives the same bytes for the whole class
    fields = [(at, width) for width in (1, 2, 4, 8) for at in range(len(code) - width + 1)
              if code[:at] == other_code[:at] and code[at + width:] == other_code[at + width:]
              and code[at:at + width] == _field_bytes(value, width)
              and other_code[at:at + width] == _field_bytes(other, width)]
    if not fields or len({at for at, _ in fields}) != 1:
        return None
    at, width = fields[-1]  # the widest: the value must fit it (a cut value is not sure)
    return code[:at], width, code[at + width:]


def fill_template(template: tuple[bytes, int, bytes], value: int, cls: tuple) -> bytes | None:
    """The template's bytes for `value` (of class `cls`); None when the value does not fit
    the field: keystone would cut it, and which form it picks then is not sure."""
    head, width, tail = template
    if not (-(1 << (8 * width - 1)) <= value < (1 << (8 * width)) or cls[2]):
        return None
    return head + _field_bytes(value, width) + tail


def _field_bytes(value: int, width: int) -> bytes:
    return (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")


_PROBES = ("", "%al", "%ax", "%eax", "%rax", "$0x1", "%ax, %bx", "%al, %bl", "%eax, %ebx",
           "%rax, %rbx", "$0x1, %ax", "(%bx)", "(%rax)", "0x10", "%xmm0, %xmm1",
           "$0x1, %al", "%st(1)", "%dx, %al", "%al, %dx", "$0x1, %eax", "%ax, %ds", "%ds",
           "$0x1, %rax")


def gnu_fixups(encoding: bytes, insn: Instruction, bits: int, text: str) -> bytes:
    """Repair keystone's encoding where it departs from GNU as (measured, each tested)."""
    if insn.mnemonic == "int" and encoding == b"\xcd\x03":
        return b"\xcc"
    # leading legacy prefixes in GNU's order
    n = 0
    while n < len(encoding) and encoding[n] in _PREFIX_SLOT:
        n += 1
    if n > 1:
        encoding = bytes(sorted(encoding[:n], key=_PREFIX_SLOT.__getitem__)) + encoding[n:]
    if insn.mnemonic in ("mov", "movw", "movl", "movq") and len(insn.operands) == 2 and any(
            op.kind == "reg" and op.reg in SEGMENT_REGISTERS for op in insn.operands):
        encoding = _segment_move(encoding, insn, bits)
    return encoding


_REG16 = {"%ax", "%bx", "%cx", "%dx", "%si", "%di", "%sp", "%bp"} | {
    f"%r{i}w" for i in range(8, 16)}


def _segment_move(encoding: bytes, insn: Instruction, bits: int) -> bytes:
    """A move to or from a segment register carries no size prefix in GNU's encoding.

    The only one GNU keeps: 0x66 when a general register destination is not the mode's
    default size (`movw %ds,%ax` in 32-bit code, `movl %ds,%eax` in 16-bit code). Keystone
    also adds 0x66 for memory operands and a move to a segment register, and REX.W for
    64-bit registers, which GNU leaves out (the upper bits are zeroed either way).
    """
    n = 0
    while n < len(encoding) and encoding[n] in _PREFIX_SLOT:
        n += 1
    dest = insn.operands[1]
    keep_66 = dest.kind == "reg" and dest.reg not in SEGMENT_REGISTERS and (
        (bits == 16) != (dest.reg in _REG16))
    prefixes = bytes(b for b in encoding[:n] if b != 0x66 or keep_66)
    rest = encoding[n:]
    if bits == 64 and rest and 0x48 <= rest[0] <= 0x4F:
        rex = rest[0] & ~0x08
        rest = (bytes([rex]) if rex != 0x40 else b"") + rest[1:]
    return prefixes + rest

"""What a fault or stop report adds about the guest's code: the instruction, disassembled, and
its source line (`prog.S:12:5` with a caret, from the run's Symbolizer); and for a guest that
left its code, where it went wrong when that can be told: it is running zeroed memory (as after
an `int` through an empty real-mode vector: there is no BIOS), or data past the end of its code
(a missing `hlt`).
"""

from __future__ import annotations

from vmm import registers as rg
from vmm.backend import VcpuBackend
from vmm.disasm import MAX_INSTRUCTION
from vmm.errors import GuestMemoryError
from vmm.memory import GuestMemory
from vmm.outcome import RunResult
from vmm.paging import NotMapped, read_linear, translate
from vmm.symbolizer import Symbolizer
from vmm.vocabulary import RunEnd

# ends whose RIP is past the instruction that caused them (port I/O completes first)
_AFTER = frozenset((RunEnd.BAD_HYPERCALL, RunEnd.BAD_POINTER, RunEnd.UNOWNED_PORT))
_IO_OPCODES = frozenset((0xEC, 0xED, 0xEE, 0xEF, 0x6C, 0x6D, 0x6E, 0x6F))
_ZEROS_SHOWN = 2


def explain(result: RunResult, vcpu: VcpuBackend, memory: GuestMemory,
            symbolizer: Symbolizer | None) -> None:
    """Add to `result.fault` (a fault, a timeout, Ctrl-C) what can be said about the code."""
    if result.fault is None or result.end in (RunEnd.OUTPUT_CLOSED, RunEnd.OUTPUT_FAILED):
        return
    try:
        lines = _explanation(result, vcpu, memory, symbolizer or Symbolizer())
    except Exception:  # noqa: BLE001 - a report must never fail for its extras
        return
    if lines:
        result.fault += "\n" + "\n".join(lines)


def _explanation(result: RunResult, vcpu: VcpuBackend, memory: GuestMemory,
                 symbolizer: Symbolizer) -> list[str]:
    snapshot = vcpu.snapshot()
    pc = rg.linear_pc(snapshot)

    def read(address: int, n: int) -> bytes:
        s = snapshot
        return read_linear(memory, s[rg.CR0], s[rg.CR0 + 2], s[rg.CR0 + 3], s[rg.EFER],
                           address, n)

    after = result.end in _AFTER or (result.end is RunEnd.MMIO and "after the write"
                                     in result.fault)
    address = pc
    if after:
        before = symbolizer.instruction_before(pc)
        if before is None and read(pc - 1, 1)[:1] and read(pc - 1, 1)[0] in _IO_OPCODES:
            before = pc - 1
        if before is None:
            return []
        address = before
    code = read(address, MAX_INSTRUCTION)
    if code:
        instruction = _instruction(code, address, rg.mode(snapshot).width)
    else:
        instruction = f"(no instruction: {_unreadable(address, snapshot, memory)})"
    fault = result.is_fault
    what = "the faulting instruction" if fault else "where it was stopped"
    source = symbolizer.source(address)
    if source is not None:
        return [source.located(f"{what}: {instruction}")]
    lines = [f"{what} ({_place(address, symbolizer)}): {instruction}"]
    lost = _lost(address, code, snapshot, symbolizer, read)
    if lost:
        lines.append(lost)
    return lines


def _instruction(code: bytes, address: int, width: int) -> str:
    from vmm.disasm import disassembler  # capstone: only a report that gets here pays it

    decoded = disassembler().one(code, address, width)
    if decoded is None:
        return f"(no instruction: {code[:4].hex(' ')})"
    size, text = decoded
    return f"{text} ({code[:size].hex(' ')})"


def _unreadable(address: int, snapshot: tuple[int, ...], memory: GuestMemory) -> str:
    """Why the guest's code at linear `address` cannot be read."""
    s = snapshot
    try:
        physical = translate(memory, s[rg.CR0], s[rg.CR0 + 2], s[rg.CR0 + 3], s[rg.EFER],
                             address)
    except NotMapped:
        return f"its address {address:#x} is not mapped by the guest's page tables"
    except GuestMemoryError as e:
        return f"its address {address:#x} cannot be translated: {e}"
    if physical == address:
        return f"its address {address:#x} is outside RAM"
    return f"its address {address:#x} is at guest-physical {physical:#x}, outside RAM"


def _place(address: int, symbolizer: Symbolizer) -> str:
    label = symbolizer.label(address)
    return f"{address:#x}, {label}" if label else f"{address:#x}"


def _lost(address: int, code: bytes, snapshot: tuple[int, ...], symbolizer: Symbolizer,
          read) -> str:  # noqa: ANN001 - read(address, n) -> bytes
    """Where a guest that is not in its code went wrong, if that can be told."""
    section = symbolizer.section(address)
    last = symbolizer.last_instruction()
    end = ""
    if last is not None:
        line = symbolizer.source(last)
        where = f" at {line.short} ({line.text.strip()})" if line else f" at {last:#x}"
        end = f"; its code ends{where}: a missing hlt or hc_exit?"
    past = last is not None and address > last
    if code[:_ZEROS_SHOWN] == bytes(_ZEROS_SHOWN):
        real = not snapshot[rg.CR0] & 1
        if real and section is None and not past and address < 0x10000:
            return ("the guest is running zeroed memory below its program, most likely from "
                    "0000:0000 on: an `int` through an empty interrupt vector? There is no "
                    "BIOS: the vectors at 0 are zero until the guest writes them")
        if section is None and past:
            return "the guest ran past the end of its program into zeroed memory" + end
        return "the guest is running zeroed memory"
    if section is not None:
        label = symbolizer.label(address)
        data = f"{section}" + (f" ({label})" if label else "")
        return f"the guest is running data in {data}, not code" + (end if past else "")
    if past and code:  # bytes of the guest's own making (or a device's): not the image
        return "the guest ran past the end of its program" + end
    return ""

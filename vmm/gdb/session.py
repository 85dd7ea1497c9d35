"""gdb's commands while the guest is stopped: each packet's reply, or what to do next.

`Session.handle` answers a packet with a reply (bytes to send) or, for the commands that end
the stop, a Resume, Kill or Detach for the monitor to carry out. It never raises for anything
gdb sends: an unsupported packet gets the protocol's empty reply, a malformed one an E reply.
"""

from __future__ import annotations

from vmm.backend import VcpuBackend
from vmm.errors import GuestMemoryError, VmmError
from vmm.gdb import linear, registers
from vmm.gdb.packets import unescape
from vmm.gdb.target import Description
from vmm.memory import GuestMemory
from vmm.values import Value

PACKET_SIZE = 0x4000  # what we tell gdb (qSupported); a memory read fits in half of it
THREAD = b"1"  # the one thread gdb sees (the vCPU)
# gdb's signal numbers (Linux's)
SIGINT, SIGILL, SIGTRAP, SIGFPE, SIGSEGV, SIGPIPE, SIGALRM = 2, 4, 5, 8, 11, 13, 14
_E_ARGUMENTS, _E_REGISTER, _E_MEMORY = b"E01", b"E16", b"E14"


class Resume(Value):
    """Run again: one instruction (`step`), while the pc stays in [start, end) (`range`), or
    until something stops the guest; at `pc` (a linear address) if given."""

    __slots__ = ("step", "range", "pc")

    def __init__(self, step: bool = False, range: tuple[int, int] | None = None,  # noqa: A002
                 pc: int | None = None) -> None:
        self.step, self.range, self.pc = step, range, pc


class Kill(Value):
    """End the run; `answer` is the reply gdb waits for first (vKill's OK; 'k' has none)."""

    __slots__ = ("answer",)

    def __init__(self, answer: bytes = b"") -> None:
        self.answer = answer


class Detach(Value):
    __slots__ = ()


class NoAck(Value):
    """Reply OK, then both sides stop acking packets."""

    __slots__ = ()


Outcome = bytes | Resume | Kill | Detach | NoAck


def _address_length(text: bytes) -> tuple[int, int]:
    address, _, length = text.partition(b",")
    return int(address, 16), int(length, 16)


class Session:
    """The state gdb keeps on the stub: breakpoints, the last stop, the description."""

    def __init__(self, vcpu: VcpuBackend, memory: GuestMemory, description: Description,
                 exec_file: str | None = None) -> None:
        self.vcpu = vcpu
        self.memory = memory
        self.description = description
        self.exec_file = exec_file
        self.breakpoints: dict[int, str] = {}  # linear address -> "swbreak" or "hwbreak"
        self.last_stop = b"S%02x" % SIGTRAP

    def stop_reply(self, signal: int, reason: str = "") -> bytes:
        """A stop reply for `signal` (and a breakpoint's `reason`), remembered for '?'."""
        reply = b"T%02xthread:%s;" % (signal, THREAD)
        if reason:
            reply += reason.encode() + b":;"
        self.last_stop = reply
        return reply

    def handle(self, payload: bytes) -> Outcome:
        try:
            return self._dispatch(payload)
        except (ValueError, IndexError):  # a number that is not hex, a missing field
            return _E_ARGUMENTS
        except registers.RegisterError:
            return _E_REGISTER
        except GuestMemoryError:
            return _E_MEMORY

    def _dispatch(self, p: bytes) -> Outcome:
        if not p:
            return b""
        head, rest = p[:1], p[1:]
        if head == b"q" or head == b"Q":
            return self._query(p)
        if head == b"v":
            return self._v(p)
        if head == b"?":
            return self.last_stop
        if head == b"g":
            return registers.read_all(self.description, self.vcpu)
        if head == b"G":
            registers.write_all(self.description, self.vcpu, bytes.fromhex(rest.decode()))
            return b"OK"
        if head == b"p":
            return registers.read_one(self.description, self.vcpu, int(rest, 16))
        if head == b"P":
            number, _, value = rest.partition(b"=")
            registers.write_one(self.description, self.vcpu, int(number, 16),
                                bytes.fromhex(value.decode()))
            return b"OK"
        if head == b"m":
            address, length = _address_length(rest)
            data = linear.read(self.memory, self.vcpu.get_sregs(), address,
                               min(length, PACKET_SIZE // 2 - 8))
            return data.hex().encode()
        if head == b"M":
            where, _, hexdata = rest.partition(b":")
            address, length = _address_length(where)
            data = bytes.fromhex(hexdata.decode())
            return self._write(address, length, data)
        if head == b"X":
            where, _, binary = rest.partition(b":")
            address, length = _address_length(where)
            return self._write(address, length, unescape(binary))
        if head in (b"Z", b"z"):
            return self._breakpoint(head == b"Z", rest)
        if head in (b"c", b"s", b"C", b"S"):
            return self._resume(head, rest)
        if head == b"H" or head == b"T":
            return b"OK"
        if head == b"k":
            return Kill()
        if head == b"D":
            return Detach()
        return b""

    def _write(self, address: int, length: int, data: bytes) -> bytes:
        if len(data) != length:
            return _E_ARGUMENTS
        if data:
            linear.write(self.memory, self.vcpu.get_sregs(), address, data)
        return b"OK"

    def _breakpoint(self, insert: bool, rest: bytes) -> bytes:
        kind, _, where = rest.partition(b",")
        if kind not in (b"0", b"1"):
            return b""  # watchpoints: gdb falls back to its own, by single-stepping
        address = int(where.partition(b",")[0], 16)
        wanted = dict(self.breakpoints)
        if insert:
            wanted[address] = "swbreak" if kind == b"0" else "hwbreak"
        else:
            wanted.pop(address, None)
        try:
            self.vcpu.set_guest_debug(breakpoints=tuple(wanted))
        except (ValueError, VmmError, OSError):  # e.g. more than the backend can watch
            return b"E28"
        self.breakpoints = wanted
        return b"OK"

    def _resume(self, head: bytes, rest: bytes) -> Resume:
        if head in (b"C", b"S"):  # a signal to deliver: a guest has none, so it is dropped
            rest = rest.partition(b";")[2]
        pc = int(rest, 16) if rest else None
        return Resume(step=head in (b"s", b"S"), pc=pc)

    def _v(self, p: bytes) -> Outcome:
        if p == b"vCont?":
            return b"vCont;c;C;s;S;r"
        if p.startswith(b"vCont;"):
            return self._vcont(p[6:])
        if p.startswith(b"vKill"):
            return Kill(b"OK")
        return b""  # vMustReplyEmpty, vFile, vRun, ...: not supported

    def _vcont(self, actions: bytes) -> Outcome:
        for action in actions.split(b";"):
            what, _, thread = action.partition(b":")
            if thread and thread not in (THREAD, b"-1", b"p1.1", b"p-1.-1", b"p1.-1"):
                continue
            kind = what[:1]
            if kind in (b"c", b"C"):
                return Resume()
            if kind in (b"s", b"S"):
                return Resume(step=True)
            if kind == b"r":
                start, end = _address_length(what[1:])
                return Resume(range=(start, end))
            if kind == b"t":
                continue
            return _E_ARGUMENTS
        return _E_ARGUMENTS

    def _query(self, p: bytes) -> Outcome:
        if p.startswith(b"qSupported"):
            features = [b"PacketSize=%x" % PACKET_SIZE, b"qXfer:features:read+",
                        b"QStartNoAckMode+", b"swbreak+", b"hwbreak+", b"vContSupported+"]
            if self.exec_file is not None:
                features.append(b"qXfer:exec-file:read+")
            return b";".join(features)
        if p == b"QStartNoAckMode":
            return NoAck()
        if p.startswith(b"qXfer:features:read:"):
            annex, _, span = p[len(b"qXfer:features:read:"):].partition(b":")
            if annex != b"target.xml":
                return b"E00"
            return _chunk(self.description.xml, span)
        if p.startswith(b"qXfer:exec-file:read:") and self.exec_file is not None:
            span = p[len(b"qXfer:exec-file:read:"):].partition(b":")[2]
            return _chunk(self.exec_file.encode(), span)
        if p == b"qfThreadInfo":
            return b"m" + THREAD
        if p == b"qsThreadInfo":
            return b"l"
        if p == b"qC":
            return b"QC" + THREAD
        if p.startswith(b"qAttached"):
            return b"0"  # the stub made the guest: quitting gdb kills it
        if p.startswith(b"qSymbol"):
            return b"OK"
        return b""  # qTStatus, qOffsets, qRcmd (monitor), ...: not supported


def _chunk(data: bytes, span: bytes) -> bytes:
    """A qXfer reply: 'm' and a piece when more follows, 'l' and the last piece."""
    offset, length = _address_length(span)
    piece = data[offset : offset + min(length, PACKET_SIZE // 2)]
    return (b"l" if offset + len(piece) >= len(data) else b"m") + piece

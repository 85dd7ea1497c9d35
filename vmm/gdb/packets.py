"""The GDB remote serial protocol's framing, as a pure byte parser (no sockets, no threads).

A packet is `$payload#cc` where cc is the payload's byte sum mod 256 in two hex digits; gdb
answers each one with `+` (got it) or `-` (send it again) until both sides agree to stop
acking (QStartNoAckMode). A lone 0x03 byte outside a packet is gdb's Ctrl-C. Binary data
escapes `$ # } *` as `}` followed by the byte xor 0x20.
"""

from __future__ import annotations

from vmm.values import Value

INTERRUPT = 0x03
MAX_PAYLOAD = 0x10000  # we advertise 0x4000 (PacketSize); a longer one is not gdb talking
_ESCAPED = frozenset(b"$#}*")
_HEX = frozenset(b"0123456789abcdefABCDEF")


class Packet(Value):
    """A well-formed packet's payload (still escaped: only binary commands unescape)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class BadChecksum(Value):
    """A packet whose checksum does not match: acked with `-` so gdb sends it again."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class Malformed(Value):
    """Bytes that are no part of the protocol: `reason` says what was wrong."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Ack(Value):
    __slots__ = ()


class Nak(Value):
    __slots__ = ()


class Interrupt(Value):
    __slots__ = ()


Event = Packet | BadChecksum | Malformed | Ack | Nak | Interrupt
ACK, NAK, INTERRUPTED = Ack(), Nak(), Interrupt()


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def escape(data: bytes) -> bytes:
    """Binary data made safe inside a packet."""
    if not any(b in _ESCAPED for b in data):
        return data
    out = bytearray()
    for b in data:
        if b in _ESCAPED:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """The binary data of an X packet; a trailing lone `}` is an error (ValueError)."""
    if 0x7D not in data:
        return data
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            nxt = next(it, None)
            if nxt is None:
                raise ValueError("binary data ends in an escape character")
            out.append(nxt ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


def frame(payload: bytes) -> bytes:
    """`$payload#cc`, the payload escaped (gdb reads `*` as run-length encoding)."""
    body = escape(payload)
    return b"$" + body + b"#" + b"%02x" % checksum(body)


class PacketReader:
    """Turns the bytes gdb sends, in pieces of any size, into protocol events."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        events: list[Event] = []
        buf = self._buf
        while buf:
            first = buf[0]
            if first == ord("+"):
                events.append(ACK)
                del buf[:1]
            elif first == ord("-"):
                events.append(NAK)
                del buf[:1]
            elif first == INTERRUPT:
                events.append(INTERRUPTED)
                del buf[:1]
            elif first == ord("$"):
                end = buf.find(b"#")
                if end < 0:
                    if len(buf) > MAX_PAYLOAD + 1:
                        events.append(Malformed(f"a packet longer than {MAX_PAYLOAD} bytes"))
                        buf.clear()
                    break
                if len(buf) < end + 3:
                    break  # the checksum has not arrived yet
                payload, digits = bytes(buf[1:end]), bytes(buf[end + 1 : end + 3])
                del buf[: end + 3]
                if not all(d in _HEX for d in digits):
                    events.append(Malformed(f"a packet checksum that is not hex: {digits!r}"))
                    continue
                if int(digits, 16) != checksum(payload):
                    events.append(BadChecksum(payload))
                else:
                    events.append(Packet(payload))
            else:
                junk = bytes(buf[:40])
                events.append(Malformed(f"bytes that are not a gdb packet: {junk!r}"))
                buf.clear()
        return events

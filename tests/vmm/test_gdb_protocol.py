"""The GDB remote protocol's framing (vmm/gdb/packets.py): checksums, escapes, and what the
reader makes of any byte stream, however it is split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmm.gdb.option import DEFAULT_PORT, parse_port, with_default_port
from vmm.gdb.packets import (
    ACK,
    INTERRUPTED,
    MAX_PAYLOAD,
    NAK,
    BadChecksum,
    Malformed,
    Packet,
    PacketReader,
    checksum,
    escape,
    frame,
    unescape,
)


def raw(payload: bytes) -> bytes:
    """A packet as gdb sends it (no escaping added)."""
    return b"$" + payload + b"#%02x" % checksum(payload)


def test_a_packet_is_framed_with_its_checksum() -> None:
    assert frame(b"OK") == b"$OK#9a"
    assert frame(b"") == b"$#00"
    assert checksum(b"qSupported") == 0x37


def test_binary_bytes_that_mean_something_are_escaped() -> None:
    data = b"a$b#c}d*e"
    assert escape(data) == b"a}\x04b}\x03c}]d}\ne"
    assert unescape(escape(data)) == data
    assert frame(b"*") == b"$}\n#%02x" % checksum(b"}\n")  # '*' would be run-length encoding


def test_a_lone_escape_at_the_end_is_an_error() -> None:
    with pytest.raises(ValueError, match="escape"):
        unescape(b"ab}")


@given(st.binary(max_size=64))
def test_escaping_round_trips(data: bytes) -> None:
    assert unescape(escape(data)) == data
    assert not set(escape(data)) & set(b"$#*")


def test_the_reader_sees_packets_acks_and_ctrl_c() -> None:
    events = PacketReader().feed(b"+$g#67-\x03" + raw(b"m1000,4"))
    assert events == [ACK, Packet(b"g"), NAK, INTERRUPTED, Packet(b"m1000,4")]


@given(st.lists(st.integers(min_value=0, max_value=40), max_size=8))
def test_the_reader_is_indifferent_to_how_the_bytes_are_split(cuts: list[int]) -> None:
    stream = b"+" + raw(b"qSupported:swbreak+") + raw(b"X1000,2:}\x03}]") + b"\x03-"
    reader = PacketReader()
    events = []
    start = 0
    for cut in sorted(cuts):
        events += reader.feed(stream[start:cut])
        start = max(start, cut)
    events += reader.feed(stream[start:])
    assert events == [ACK, Packet(b"qSupported:swbreak+"), Packet(b"X1000,2:}\x03}]"),
                      INTERRUPTED, NAK]


def test_a_wrong_checksum_asks_for_the_packet_again() -> None:
    assert PacketReader().feed(b"$g#00") == [BadChecksum(b"g")]


def test_a_checksum_that_is_not_hex_is_malformed() -> None:
    [event] = PacketReader().feed(b"$g#zz")
    assert isinstance(event, Malformed) and "not hex" in event.reason
    [event] = PacketReader().feed(b"$g# 7")  # int() would take " 7"
    assert isinstance(event, Malformed)


def test_bytes_outside_any_packet_are_malformed() -> None:
    [event] = PacketReader().feed(b"hello\n")
    assert isinstance(event, Malformed)
    assert event.reason == "bytes that are not a gdb packet: b'hello\\n'"


def test_a_packet_without_end_is_malformed_once_it_is_too_long() -> None:
    reader = PacketReader()
    assert reader.feed(b"$" + b"a" * MAX_PAYLOAD) == []
    [event] = reader.feed(b"aa")
    assert isinstance(event, Malformed) and "longer than" in event.reason


def test_a_bare_gdb_option_means_the_default_port() -> None:
    assert with_default_port(["run", "--gdb", "p.S"]) == ["run", f"--gdb={DEFAULT_PORT}", "p.S"]
    assert with_default_port(["run", "--gdb=4321", "p.S"]) == ["run", "--gdb=4321", "p.S"]
    assert with_default_port(["run", "--", "--gdb"]) == ["run", "--", "--gdb"]


@pytest.mark.parametrize("text", ["abc", "-1", "65536", "", "12.5"])
def test_a_bad_port_is_refused_in_words(text: str) -> None:
    with pytest.raises(ValueError, match="is not a port number"):
        parse_port(text)


def test_ports_from_0_to_65535_are_taken() -> None:
    assert [parse_port(t) for t in ("0", "1234", "65535")] == [0, 1234, 65535]
